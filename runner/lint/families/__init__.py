"""The rule families of ``runner lint``, one module each; :mod:`runner.lint.rules`
joins their ``RULES`` lists into the registry."""
