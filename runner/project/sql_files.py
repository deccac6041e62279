"""Run the plain ``.sql`` files paired with a revision.

A SQL revision ``versions/<file>.py`` has ``<file>.upgrade.sql`` and
``<file>.downgrade.sql`` beside it. DBAs write SQL; Alembic still owns ordering,
the version table and offline rendering, because each statement goes through
``op.execute`` (so ``runner plan`` shows it verbatim).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

Direction = Literal["upgrade", "downgrade"]


def sql_file_name(revision_file_name: str, direction: Direction) -> str:
    """``abc_x.py`` -> ``abc_x.upgrade.sql`` (or ``.downgrade.sql``)."""
    return f"{revision_file_name.rsplit('.', 1)[0]}.{direction}.sql"


def sql_file_path(revision_file: str | Path, direction: Direction) -> Path:
    """``versions/abc_x.py`` -> ``versions/abc_x.upgrade.sql`` (or ``.downgrade.sql``)."""
    path = Path(revision_file)
    return path.with_name(sql_file_name(path.name, direction))


def split_statements(sql: str) -> list[str]:
    r"""Split a SQL script into statements, dropping comment-only and empty ones.

    Drivers differ on multi-statement strings (SQLite refuses them, PyMySQL
    needs a client flag), so each statement is executed on its own. A
    statement's closing ``;`` and the comments after it are dropped (sqlparse
    attaches a comment to the statement before it).

    >>> split_statements("CREATE TABLE t (a int); -- note\nINSERT INTO t VALUES ('x;y');")
    ['CREATE TABLE t (a int)', "INSERT INTO t VALUES ('x;y')"]
    >>> split_statements("-- nothing but a comment\n;\n")
    []
    """
    import sqlparse  # only SQL revisions need it; keeps CLI start-up lean
    from sqlparse import engine

    statements = []
    # The splitter alone, without sqlparse's grouping (which nothing here reads): the
    # same statements, several times faster; lint splits every rendered revision.
    split: Iterable[Any] = engine.FilterStack().run(sql)  # type: ignore[no-untyped-call]
    for statement in split:
        tokens = list(statement.flatten())
        while tokens and (
            tokens[-1].is_whitespace
            or tokens[-1].ttype in sqlparse.tokens.Comment
            or tokens[-1].match(sqlparse.tokens.Punctuation, ";")
        ):
            tokens.pop()
        if any(t.ttype not in sqlparse.tokens.Comment and not t.is_whitespace for t in tokens):
            statements.append("".join(str(t) for t in tokens).strip())
    return statements


def run_sql_file(revision_file: str | Path, direction: Direction) -> None:
    """Execute every statement of the paired SQL file through ``op.execute``."""
    from alembic import op

    path = sql_file_path(revision_file, direction)
    if not path.is_file():
        raise FileNotFoundError(f"SQL file for {direction} not found: {path}")
    for statement in split_statements(path.read_text(encoding="utf-8")):
        op.execute(statement)
