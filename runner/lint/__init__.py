"""``runner lint``: review checks of a project's history and SQL, without a database.

The pipeline is :mod:`runner.lint.pipeline`; rules are registered in :mod:`runner.lint.rules`.
"""
