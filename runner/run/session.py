"""Connections and reads shared by every command (no writes here)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from runner.db import DEFAULT_LOCK_TIMEOUT
from runner.db.connect import classify, connect, create_target_engine
from runner.db.locking import busy
from runner.project.environment import ProjectEnv
from runner.project.resolve import url_variable
from runner.run.envpass import EnvRun, run_env

log = logging.getLogger("runner")


@contextmanager
def open_connection(
    penv: ProjectEnv, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> Iterator[Connection]:
    """One connection to the project's target for the duration of a command."""
    if penv.target.embedded and penv.target.missing:
        log.info(
            "%s: no database URL configured; creating embedded SQLite database %s"
            " (set %s to use another database)",
            penv.name,
            penv.target.file_path,
            url_variable(penv.project),
        )
    engine = create_target_engine(penv.name, penv.target, lock_timeout)
    try:
        connection = connect(penv.name, penv.target, engine)
        try:
            yield connection
        except DBAPIError as exc:
            if busy(exc):
                raise  # SQLite's write lock: the lock's own timeout (runner.db.locking)
            # What no step classified: a read, or a write's bookkeeping, rolled back.
            raise classify(exc, penv.name, penv.target, "talking to it", UNCHANGED) from exc
        finally:
            connection.close()
    finally:
        engine.dispose()


UNCHANGED = "where it was before this command (nothing was committed)"


def read_current(penv: ProjectEnv, connection: Connection) -> tuple[tuple[str, ...], str | None]:
    """Current revision(s) and version table, read through the project's env.py."""
    run = read_env(penv, connection)
    return run.current, run.version_table


def read_env(penv: ProjectEnv, connection: Connection) -> EnvRun:
    """One read-only pass through env.py: current revisions, version table and schema.

    Runs in its own transaction unless the caller already holds one.
    """
    if connection.in_transaction():
        return run_env(penv, lambda _rev, _ctx: [], connection, dont_mutate=True)
    with connection.begin():
        return run_env(penv, lambda _rev, _ctx: [], connection, dont_mutate=True)
