"""Open connections to a target, and turn driver failures into runner errors.

Two things here are deliberate:

* SQLite gets real transactions. pysqlite's default handling commits before
  DDL, which makes a failed upgrade leave half its objects behind. For a
  backend whose record says ``emulated_begin`` we switch the driver to
  autocommit and emit ``BEGIN`` ourselves, the recipe from the SQLAlchemy
  SQLite dialect documentation, so a whole upgrade is all-or-nothing. The lock
  asks for ``BEGIN IMMEDIATE`` instead through :func:`begin_with`.
* Connection failures are classified once, here: a missing driver is a
  configuration problem (exit 2), an unreachable server or a refused login is
  exit 3, and the message never carries the password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, pool
from sqlalchemy.engine import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, OperationalError

from runner.db import DEFAULT_LOCK_TIMEOUT, guard
from runner.db.backends import DRIVER_PACKAGES
from runner.db.target import Target
from runner.errors import ConfigError, DatabaseUnreachable, DriverMissing, RunnerError
from runner.output import redact

APPLICATION_NAME = "docker-alembic"

# connection.info key: the statement that opens this connection's transactions.
_BEGIN_KEY = "runner_begin"


def create_target_engine(
    project: str, target: Target, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> Engine:
    """An engine for ``target`` with no pooling (one run, one connection)."""
    backend = target.backend
    try:
        connect_args = backend.connect_args(
            target.url.get_driver_name(), f"{APPLICATION_NAME}:{project}", lock_timeout
        )
        engine = create_engine(target.url, poolclass=pool.NullPool, connect_args=connect_args)
    except NoSuchModuleError as exc:
        raise DriverMissing(
            f"no SQLAlchemy dialect for {target.url.drivername!r} (URL from {target.source});"
            " check the URL's scheme or install the dialect's package",
            project=project,
        ) from exc
    except ModuleNotFoundError as exc:
        driver = target.url.get_driver_name()
        package = DRIVER_PACKAGES.get(driver, exc.name or driver)
        raise DriverMissing(
            f"database driver {driver!r} is not installed (URL from {target.source});"
            f" install it with: pip install '{package}'",
            project=project,
        ) from exc
    if backend.emulated_begin:
        _emit_begin_ourselves(engine)
    _apply_session(project, target, engine)
    return engine


def _apply_session(project: str, target: Target, engine: Engine) -> None:
    """Run the target's session settings (timeouts, search_path) on every new connection,
    and lift the lock wait for the statements that must run without one."""
    session = target.session
    kind = target.backend
    lock_wait = session.lock_wait(kind)
    if (session.statement_timeout, lock_wait, session.schema) == (None, None, None):
        return

    def version(cursor: Any) -> str:
        cursor.execute("SELECT VERSION()")
        return str(cursor.fetchone()[0])

    try:  # unsupported settings fail here, before anything connects
        kind.session_sql(session.statement_timeout, lock_wait, session.schema, lambda: "")
    except ValueError as exc:
        raise ConfigError(f"target {target.name or 'default'}: {exc} (remove it from its"
                          " targets file, or the option that set it)",
                          project=project) from exc  # fmt: skip

    @event.listens_for(engine, "connect")
    def _settings(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in kind.session_sql(
                session.statement_timeout, lock_wait, session.schema, lambda: version(cursor)
            ):
                cursor.execute(statement)
        finally:
            cursor.close()
        dbapi_connection.commit()  # settings made in a transaction last for the session

    if lock_wait is not None:
        guard.exempt_waiting_statements(engine, kind, lock_wait)


def _emit_begin_ourselves(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own BEGIN/COMMIT around statements.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.info.get(_BEGIN_KEY, "BEGIN"))


@contextmanager
def begin_with(connection: Connection, statement: str) -> Iterator[None]:
    """Open the transactions of ``connection`` with ``statement`` (``BEGIN IMMEDIATE``:
    SQLite's write lock, taken up front) while the block runs. Only connections of
    an ``emulated_begin`` backend emit it; others ignore it."""
    connection.info[_BEGIN_KEY] = statement
    try:
        yield
    finally:
        connection.info.pop(_BEGIN_KEY, None)


def begin_plainly(connection: Connection) -> None:
    """From now on, open transactions with a plain ``BEGIN`` (undoes :func:`begin_with`)."""
    connection.info.pop(_BEGIN_KEY, None)


def connect(project: str, target: Target, engine: Engine) -> Connection:
    """Open a connection, creating the folder of a database file on demand."""
    path = target.file_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return engine.connect()
    except DBAPIError as exc:
        if path is not None and not _usable(path):
            # Not a server to wait for: a file or folder this user may not open.
            raise ConfigError(
                f"cannot open the database file {path} (URL from {target.source}) as uid"
                f" {os.getuid()}: {describe_db_error(exc)}; {path.parent} (and the file, if it"
                " exists) must be writable by this user (in the Docker image, run as the owner"
                ' of your files: --user "$(id -u):$(id -g)")',
                project=project,
            ) from exc
        raise DatabaseUnreachable(
            f"cannot connect to {target.display} (URL from {target.source}):"
            f" {describe_db_error(exc)}",
            project=project,
        ) from exc


def _usable(path: Path) -> bool:
    """Whether this user may create (or open for writing) the database file."""
    if path.exists():
        return os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK)
    return os.access(path.parent, os.W_OK | os.X_OK)


def lost(exc: BaseException, connection: Connection | None = None) -> bool:
    """Whether ``exc`` means the connection is gone (server restart, session killed)."""
    if connection is not None and connection.invalidated:
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def read_only(exc: BaseException) -> bool:
    """The database (a file, or a read-only server) refused to be written at all."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "readonly database" in text or "read-only" in text


def classify(exc: DBAPIError, project: str, target: Target, doing: str, where: str) -> RunnerError:
    """The one-line runner error for a driver error that escaped ``doing``.

    ``where`` says where the database is, as well as the caller knows it. A lost
    connection is exit 3; a database file the user may not write is exit 2 (a
    setting to fix, not a server to wait for); anything else the database refused
    is exit 2 naming the statement's first words.
    """
    reason = describe_db_error(exc)
    if lost(exc):
        return DatabaseUnreachable(
            f"lost the connection to {target.display} while {doing}: {reason}; the database"
            f" is at {where} (check: runner status {project})",
            project=project,
        )
    if read_only(exc):
        return ConfigError(
            f"the database file {target.file_path or target.display} cannot be written by this"
            f" user: {reason} (check the permissions of the file and of its folder, where"
            f" SQLite keeps its journal); the database is at {where}",
            project=project,
        )
    if isinstance(exc, OperationalError):
        return DatabaseUnreachable(
            f"the database failed while {doing}: {reason}; the database is at {where}",
            project=project,
        )
    statement = " ".join((exc.statement or "").split()[:3])
    return ConfigError(
        f"the database refused {statement or 'a statement'} while {doing}: {reason}; the"
        f" database is at {where}",
        project=project,
    )


def describe_db_error(exc: BaseException) -> str:
    """One line from a driver error, without SQLAlchemy's boilerplate or secrets."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip()
    # SQLAlchemy appends "(Background on this error at: https://sqlalche.me/...)".
    text = re.sub(r"\(Background on this error at:[^)]*\)", "", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # Skip driver noise lines (psycopg's "connection failed: ..." prefix is useful, keep it).
    line = " ".join(lines[:2]) if lines else type(original).__name__
    return redact.scrub(line)
