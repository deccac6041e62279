"""Stable import path for env.py files: ``from runner.targets import url_for_plain_alembic``.

env.py files written by earlier versions of ``runner new`` import it from here;
the code lives in :mod:`runner.project.resolve`.
"""

from __future__ import annotations

from runner.project.resolve import url_for_plain_alembic

__all__ = ["url_for_plain_alembic"]
