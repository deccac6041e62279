"""Stable import path for revision files: ``from runner.sql_files import run_sql_file``.

Every SQL revision written by ``runner revision --sql`` imports it from here;
the code lives in :mod:`runner.project.sql_files`.
"""

from __future__ import annotations

from runner.project.sql_files import run_sql_file, split_statements, sql_file_path

__all__ = ["run_sql_file", "split_statements", "sql_file_path"]
