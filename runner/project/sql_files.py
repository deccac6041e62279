"""Run the plain ``.sql`` files paired with a revision.

A SQL revision ``versions/<file>.py`` has ``<file>.upgrade.sql`` and
``<file>.downgrade.sql`` beside it. DBAs write SQL; Alembic still owns ordering,
the version table and offline rendering, because each statement goes through
``op.execute`` (so ``runner plan`` shows it verbatim).
"""

from __future__ import annotations

import re
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
    statement's closing ``;`` and the comments after it are dropped (a ``--``
    comment on the line of a ``;`` belongs to the statement before it).

    sqlparse's splitter is the reference; :func:`_split_plainly` gives the same
    statements for scripts without procedural blocks, dollar quotes or backslash
    escapes (all Alembic renders for tables and rows), about 30 times faster:
    lint splits every rendered revision.

    >>> split_statements("CREATE TABLE t (a int); -- note\nINSERT INTO t VALUES ('x;y');")
    ['CREATE TABLE t (a int)', "INSERT INTO t VALUES ('x;y')"]
    >>> split_statements("-- nothing but a comment\n;\n")
    []
    """
    plain = _split_plainly(sql)
    return _split_with_sqlparse(sql) if plain is None else plain


# What the plain scan leaves to sqlparse, wherever it appears (sqlparse looks for block
# comments and dollar quotes across the whole text, even inside quotes): block comments,
# dollar quotes, backslash escapes, "# " comments and MySQL's acute-accent quotes.
_UNHANDLED = ("/*", "$", "\\", "#", "\u00b4")
# What decides where a statement ends, in the order a scan meets it: comments and
# quoted text are opaque, ";" outside parentheses ends a statement. ``other`` is the
# rest of what the scan leaves to sqlparse: the words sqlparse nests blocks on (and
# T-SQL's GO), [bracketed names], an unterminated quote.
_SCAN = re.compile(
    r"""(?P<comment>--[^\r\n]*(?:\r\n|\r|\n|$))
      | (?P<quoted>'(?:''|[^'])*'|"(?:""|[^"])*"|`(?:``|[^`])*`)
      | (?P<mark>[;()])
      | (?P<other>\b(?:BEGIN|DECLARE|END|GO)\b|(?<![\w\])])\[|['"`])""",
    re.VERBOSE | re.DOTALL | re.IGNORECASE,
)
# After a statement's ";", what still belongs to it: blanks on the same line and "--"
# comments (each with its line end), but not a line break or a "--+" optimizer hint.
_TRAILER = re.compile(r"(?:[^\S\r\n]|--(?!\+)[^\r\n]*(?:\r\n|\r|\n|$))*")


def _split_plainly(sql: str) -> list[str] | None:
    """The statements of a script without what :data:`_SCAN` calls ``other``, else None."""
    if any(text in sql for text in _UNHANDLED):
        return None
    statements: list[str] = []
    start, depth = 0, 0
    comments: list[tuple[int, int]] = []  # spans of the current statement's comments
    for match in _SCAN.finditer(sql):
        kind = match.lastgroup
        if kind == "other":
            return None
        if kind == "comment":
            comments.append(match.span())
        elif kind == "mark":
            char = match[0]
            if char != ";":
                depth += 1 if char == "(" else -1
            elif depth <= 0:  # sqlparse splits at depth <= 0: a stray ")" counts too
                _keep(sql, start, match.start(), comments, statements)
                start = _TRAILER.match(sql, match.end()).end()  # type: ignore[union-attr]
                depth, comments = 0, [span for span in comments if span[0] >= start]
    _keep(sql, start, len(sql), comments, statements)
    return statements


def _keep(
    sql: str, start: int, end: int, comments: list[tuple[int, int]], statements: list[str]
) -> None:
    """Append ``sql[start:end]`` without its trailing blanks, comments and semicolons,
    unless it holds nothing but comments."""
    inside = [span for span in comments if start <= span[0] < end]
    while True:  # drop trailing blanks, comments and semicolons, as many as there are
        end = start + len(sql[start:end].rstrip())
        if inside and inside[-1][1] >= end and inside[-1][0] < end:
            end = inside.pop()[0]
        elif end > start and sql[end - 1] == ";":  # one inside parentheses, say
            end -= 1
        else:
            break
    text = sql[start:end]
    rest, last = [], start
    for begin, finish in inside:
        rest.append(sql[last:begin])
        last = finish
    rest.append(sql[last:end])
    if "".join(rest).strip():
        statements.append(text.strip())


def _split_with_sqlparse(sql: str) -> list[str]:
    """sqlparse's statement splitter: the reference, for every script."""
    import sqlparse  # only SQL revisions need it; keeps CLI start-up lean
    from sqlparse import engine

    statements = []
    # The splitter alone, without sqlparse's grouping (which nothing here reads): the
    # same statements, several times faster.
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
