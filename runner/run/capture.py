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
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from runner.db.connect import connect, create_target_engine
from runner.db.target import file_target
from runner.errors import ConfigError, RunnerError
from runner.project.environment import ProjectEnv
from runner.run.envpass import name_base, run_env

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
    """Collects executed statements and Alembic's per-step "Running ..." lines.

    It listens on every engine, not only ours: a stock env.py builds its own
    engine from ``sqlalchemy.url`` (pointed at the copy), and its statements are
    the plan too. A statement for any other database is stopped before it runs:
    an env.py that ignores ``sqlalchemy.url`` must not touch a real database
    while we plan.
    """

    def __init__(self, project: str, copy: Path) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.statements = 0
        self.project, self.copy = project, str(copy)

    def emit(self, record: logging.LogRecord) -> None:
        step = record.args[0] if isinstance(record.args, tuple) and record.args else None
        short_log = getattr(step, "short_log", None)
        if short_log:
            self.lines.append(f"-- Running {short_log}\n")

    def statement(self, conn: Any, _cursor: Any, statement: str, params: Any,
                  _context: Any, executemany: bool) -> None:  # fmt: skip
        url = conn.engine.url
        if url.database != self.copy:
            shown = url.render_as_string(hide_password=True)
            raise ConfigError(
                f"env.py connected to {shown} while planning on a throw-away copy of the"
                " database (it ignores sqlalchemy.url); the plan stopped before running"
                " anything there",
                project=self.project,
            )
        if statement.lstrip().upper().startswith(_READS) or statement.strip() in {"BEGIN", ""}:
            return
        self.statements += 1
        rows = params if executemany else [params]
        for row in rows:
            self.lines.append(_with_params(statement.strip(), row).rstrip(";") + ";\n")


@contextmanager
def _copy_of(source: Path | None) -> Iterator[Path]:
    import sqlite3  # only a SQLite plan needs it; a PostgreSQL run need not load _sqlite3

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


def upgrade_sql(
    penv: ProjectEnv, source: Path | None, destination: str = "heads", downgrade: bool = False
) -> str:
    """SQL that upgrading (or ``downgrade``-ing) a copy of ``source`` (an empty database
    when ``None``) to ``destination`` executes, in Alembic's offline layout; a failing
    revision raises."""
    sql, error = upgrade_sql_partial(penv, source, destination, downgrade)
    if error is not None:
        raise error
    return sql


def upgrade_sql_partial(
    penv: ProjectEnv, source: Path | None, destination: str = "heads", downgrade: bool = False
) -> tuple[str, RunnerError | None]:
    """Like :func:`upgrade_sql`, but a failure returns what ran before it, and the error.

    The revision that failed is the last one in the SQL, and its part is incomplete.
    """
    with _copy_of(source) as copy:
        target = file_target(copy, "throw-away copy")
        scratch = penv.pointed_at(target)
        recorder = _Recorder(penv.name, copy)
        error: RunnerError | None = None
        engine = create_target_engine(penv.name, target)
        event.listen(Engine, "before_cursor_execute", recorder.statement)
        progress = _Progress(recorder)
        try:
            with connect(penv.name, target, engine) as connection, connection.begin():
                progress.listen()
                try:
                    steps = scratch.downgrade_steps if downgrade else scratch.upgrade_steps
                    run_env(
                        scratch,
                        lambda rev, _ctx: steps(destination, rev),
                        connection,
                        # A stock env.py runs logging.config.fileConfig when imported,
                        # which disables and rewires Alembic's logger: listen again.
                        prepare=lambda _seen, _ctx: progress.listen(),
                        destination_rev=destination,
                    )
                except RunnerError as exc:
                    error = exc
                connection.rollback()
        finally:
            event.remove(Engine, "before_cursor_execute", recorder.statement)
            progress.restore()
            engine.dispose()
    if error is None and recorder.lines and not recorder.statements:
        # Alembic writes the version table at every step: nothing seen means we were blind.
        error = ConfigError(
            "planning on a throw-away copy saw no statement at all, though revisions are"
            " pending: env.py runs them in a way the plan cannot see; nothing was changed",
            project=penv.name,
        )
    return name_base("\n".join(recorder.lines)), error


class _Progress:
    """Alembic's progress logger, wired to the recorder alone while we capture (the
    user's terminal stays quiet), and put back as it was afterwards."""

    def __init__(self, recorder: _Recorder) -> None:
        self.logger = logging.getLogger("alembic.runtime.migration")
        self.recorder = recorder
        self.saved = (
            self.logger.level, self.logger.disabled, self.logger.propagate,
            list(self.logger.handlers),
        )  # fmt: skip

    def listen(self) -> None:
        self.logger.setLevel(logging.INFO)
        self.logger.disabled = False
        self.logger.propagate = False
        self.logger.handlers[:] = [self.recorder]

    def restore(self) -> None:
        level, disabled, propagate, handlers = self.saved
        self.logger.setLevel(level)
        self.logger.disabled, self.logger.propagate = disabled, propagate
        self.logger.handlers[:] = handlers
