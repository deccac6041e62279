"""Exact SQL of an upgrade on SQLite, captured from a throw-away copy.

Alembic's offline (``--sql``) mode cannot render SQLite batch operations: they
reflect the table from a live database. So on SQLite, ``plan`` and ``lint``
run the upgrade for real on a copy of the database (or on an empty one) and
record every statement it executes, laid out like Alembic's offline output
(``-- Running upgrade a -> b`` before each revision), so the result is both
exact and readable the same way. The copy is deleted afterwards; the real
database is only read (through SQLite's backup API, which is consistent even
while another process writes).
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from runner.db.connect import connect, create_target_engine
from runner.db.target import file_target
from runner.errors import RunnerError
from runner.project.environment import ProjectEnv
from runner.run.envpass import run_env

# Reads that batch mode and Alembic issue for themselves: not part of the change.
_READS = ("SELECT", "PRAGMA", "WITH")


def literal(value: Any) -> str:
    """A bound parameter as a SQL literal, for display.

    >>> [literal(v) for v in (None, 3, "it's", True)]
    ['NULL', '3', "'it''s'", '1']
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _with_params(statement: str, params: Any) -> str:
    """Substitute qmark parameters (SQLite's style) for display."""
    if not params:
        return statement
    values = iter(params if isinstance(params, (list, tuple)) else [params])
    pieces = statement.split("?")
    out = [pieces[0]]
    for piece in pieces[1:]:
        out.append(literal(next(values, None)) + piece)
    return "".join(out)


class _Recorder(logging.Handler):
    """Collects executed statements and Alembic's per-step "Running ..." lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        step = record.args[0] if isinstance(record.args, tuple) and record.args else None
        short_log = getattr(step, "short_log", None)
        if short_log:
            self.lines.append(f"-- Running {short_log}\n")

    def statement(self, _conn: Any, _cursor: Any, statement: str, params: Any,
                  _context: Any, executemany: bool) -> None:  # fmt: skip
        if statement.lstrip().upper().startswith(_READS) or statement.strip() in {"BEGIN", ""}:
            return
        rows = params if executemany else [params]
        for row in rows:
            self.lines.append(_with_params(statement.strip(), row).rstrip(";") + ";\n")


@contextmanager
def _copy_of(source: Path | None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="runner-plan-") as folder:
        copy = Path(folder) / "copy.sqlite"
        target = sqlite3.connect(copy)
        try:
            if source is not None and source.exists():
                origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
                try:
                    origin.backup(target)
                finally:
                    origin.close()
        finally:
            target.close()
        yield copy


def upgrade_sql(penv: ProjectEnv, source: Path | None) -> str:
    """SQL that upgrading a copy of ``source`` (an empty database when ``None``) to the
    heads executes, in Alembic's offline layout; a failing revision raises."""
    sql, error = upgrade_sql_partial(penv, source)
    if error is not None:
        raise error
    return sql


def upgrade_sql_partial(penv: ProjectEnv, source: Path | None) -> tuple[str, RunnerError | None]:
    """Like :func:`upgrade_sql`, but a failure returns what ran before it, and the error.

    The revision that failed is the last one in the SQL, and its part is incomplete.
    """
    with _copy_of(source) as copy:
        target = file_target(copy, "throw-away copy")
        scratch = penv.pointed_at(target)
        recorder = _Recorder()
        error: RunnerError | None = None
        progress = logging.getLogger("alembic.runtime.migration")
        engine = create_target_engine(penv.name, target)
        event.listen(engine, "before_cursor_execute", recorder.statement)
        saved = progress.level, progress.disabled
        progress.addHandler(recorder)
        progress.setLevel(logging.INFO)
        try:
            with connect(penv.name, target, engine) as connection, connection.begin():
                # Keep the user's terminal quiet: the recorder still sees the records.
                progress.disabled = False
                propagate, progress.propagate = progress.propagate, False
                handlers = [h for h in progress.handlers if h is not recorder]
                for handler in handlers:
                    progress.removeHandler(handler)
                try:
                    run_env(
                        scratch,
                        lambda rev, _ctx: scratch.upgrade_steps("heads", rev),
                        connection,
                        destination_rev="heads",
                    )
                except RunnerError as exc:
                    error = exc
                finally:
                    for handler in handlers:
                        progress.addHandler(handler)
                    progress.propagate = propagate
                connection.rollback()
        finally:
            progress.removeHandler(recorder)
            progress.setLevel(saved[0])
            progress.disabled = saved[1]
            engine.dispose()
    return "\n".join(recorder.lines), error
