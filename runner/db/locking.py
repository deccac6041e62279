"""One writer per (project, database): session-scoped database locks.

* PostgreSQL: ``pg_try_advisory_lock`` on a key derived from the project name,
  polled until the timeout; while waiting we name the holder from
  ``pg_stat_activity`` (the runner sets ``application_name``).
* MySQL/MariaDB: ``GET_LOCK``; the holder's connection is found through
  ``IS_USED_LOCK`` and the process list.
* SQLite: an exclusive ``flock`` on ``<database file>.lock`` between runners
  (the file says who holds it: pid, user, host, since when), then the
  database's own write lock, taken by ``BEGIN IMMEDIATE`` at the start of the
  command's transaction (the busy timeout is the lock timeout). The lock file
  also serialises projects whose stock env.py opens its own connection, which
  our ``BEGIN IMMEDIATE`` would lock out.

All of them die with the connection or the process, so a killed run never
leaves a stale lock behind (the failure mode of lock *rows*). The lock file
itself stays: removing it could let two runs lock two different files.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

try:
    import fcntl
except ImportError:  # Windows: SQLite runs keep BEGIN IMMEDIATE only
    fcntl = None  # type: ignore[assignment]
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from runner.db.backends import LockKind, backend
from runner.db.connect import begin_with, describe_db_error, lost
from runner.errors import DatabaseUnreachable, LockTimeout

log = logging.getLogger("runner")

_POLL = 0.25


def lock_name(project: str, database: str | None) -> str:
    """A GET_LOCK name: at most 64 characters, unique per database and project."""
    name = f"docker-alembic:{database or ''}:{project}"
    if len(name) > 64:
        name = "docker-alembic:" + hashlib.sha256(name.encode()).hexdigest()[:48]
    return name


def advisory_key(project: str) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for the project."""
    digest = hashlib.sha256(f"docker-alembic:{project}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _waiting(connection: Connection, project: str) -> Iterator[None]:
    """Losing the connection while waiting for the lock: exit 3, one line, nothing changed."""
    try:
        yield
    except DBAPIError as exc:
        if not lost(exc, connection):
            raise
        raise DatabaseUnreachable(
            f"lost the connection while waiting for the migration lock:"
            f" {describe_db_error(exc)}; nothing was changed",
            project=project,
        ) from exc


@contextmanager
def hold(connection: Connection, project: str, timeout: float) -> Iterator[None]:
    kind = backend(connection.dialect.name).lock
    if kind is LockKind.ADVISORY:
        with _advisory(connection, project, timeout):
            yield
    elif kind is LockKind.NAMED:
        with _named(connection, project, timeout):
            yield
    elif kind is LockKind.FILE:
        # The write lock is the transaction: BEGIN IMMEDIATE instead of BEGIN.
        try:
            with (
                begin_with(connection, "BEGIN IMMEDIATE"),
                _file_lock(connection.engine.url.database, project, timeout),
            ):
                yield
        except OperationalError as exc:
            if not busy(exc):
                raise
            raise LockTimeout(
                f"could not take the SQLite write lock within {timeout:.0f}s; another"
                " process is writing to this database (raise --lock-timeout or wait)",
                project=project,
            ) from exc
    else:
        log.warning(
            "%s: no lock for %s databases; make sure runs do not overlap",
            project,
            connection.dialect.name,
        )
        yield


def busy(exc: BaseException) -> bool:
    """SQLite's write lock was not free within its busy timeout (our lock timeout)."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def _autocommit(connection: Connection, sql: str, **params: object) -> object:
    """Run a lock statement outside any transaction we will later roll back."""
    value = connection.execute(text(sql), params).scalar()
    connection.commit()
    return value


def _timed_out(project: str, timeout: float, holder: str) -> LockTimeout:
    return LockTimeout(
        f"could not take the migration lock within {timeout:.0f}s; held by {holder}"
        " (raise --lock-timeout or wait)",
        project=project,
    )


@contextmanager
def _released_by(connection: Connection, unlock: str, **params: object) -> Iterator[None]:
    """Run the block, then drop any unfinished transaction and release the lock.

    The lock belongs to the session: when the connection was lost, the lock went
    with it, and nothing is sent (SQLAlchemy would quietly reconnect, and release
    nothing on a new session). Cleanup never hides the error that ended the block.
    """
    try:
        yield
    except BaseException:
        _release(connection, unlock, params, quiet=True)
        raise
    _release(connection, unlock, params, quiet=False)


def _release(connection: Connection, unlock: str, params: dict[str, object], quiet: bool) -> None:
    if connection.invalidated:
        return
    try:
        if connection.in_transaction():
            connection.rollback()
        _autocommit(connection, unlock, **params)
    except DBAPIError as exc:
        # The work is done (or already failed); the lock dies with the session anyway.
        if not quiet:
            log.warning("could not release the lock cleanly (%s); it ends with the session",
                        describe_db_error(exc))  # fmt: skip


@contextmanager
def _advisory(connection: Connection, project: str, timeout: float) -> Iterator[None]:
    key = advisory_key(project)
    deadline = time.monotonic() + timeout
    announced = False
    with _waiting(connection, project):
        while not _autocommit(connection, "SELECT pg_try_advisory_lock(:k)", k=key):
            if not announced:
                log.info(
                    "%s: waiting up to %.0fs for the lock held by %s",
                    project,
                    timeout,
                    _advisory_holder(connection, key),
                )
                announced = True
            if time.monotonic() >= deadline:
                raise _timed_out(project, timeout, _advisory_holder(connection, key))
            time.sleep(_POLL)
    with _released_by(connection, "SELECT pg_advisory_unlock(:k)", k=key):
        yield


def _advisory_holder(connection: Connection, key: int) -> str:
    row = connection.execute(
        text(
            "SELECT a.pid, a.application_name, a.usename, a.client_addr, a.backend_start"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            # Advisory keys are per database: a holder elsewhere is not ours.
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            # A bigint key is stored as two unsigned 32-bit halves (objsubid = 1).
            " AND l.objsubid = 1"
            " AND l.classid::bigint = ((CAST(:k AS bigint) >> 32) & 4294967295)"
            " AND l.objid::bigint = (CAST(:k AS bigint) & 4294967295)"
            " LIMIT 1"
        ),
        {"k": key},
    ).first()
    connection.commit()
    if row is None:
        return "another session"
    pid, app, user, addr, started = row
    where = addr or "local socket"
    return f"pid {pid} ({app or '?'}, user {user}, from {where}, since {started:%H:%M:%S})"


@contextmanager
def _named(connection: Connection, project: str, timeout: float) -> Iterator[None]:
    name = lock_name(project, connection.engine.url.database)
    with _waiting(connection, project):
        if not _autocommit(connection, "SELECT GET_LOCK(:n, 0)", n=name):
            log.info(
                "%s: waiting up to %.0fs for the lock held by %s",
                project,
                timeout,
                _named_holder(connection, name),
            )
            wait = int(max(timeout, 1))
            if not _autocommit(connection, "SELECT GET_LOCK(:n, :t)", n=name, t=wait):
                raise _timed_out(project, timeout, _named_holder(connection, name))
    with _released_by(connection, "SELECT RELEASE_LOCK(:n)", n=name):
        yield


def _named_holder(connection: Connection, name: str) -> str:
    holder = _autocommit(connection, "SELECT IS_USED_LOCK(:n)", n=name)
    if holder is None:
        return "another session"
    row = connection.execute(
        text("SELECT user, host, time FROM information_schema.processlist WHERE id = :i"),
        {"i": holder},
    ).first()
    connection.commit()
    if row is None:
        return f"connection {holder}"
    user, host, seconds = row
    return f"connection {holder} (user {user}, from {host}, for {seconds}s)"


@contextmanager
def _file_lock(database: str | None, project: str, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<database>.lock``; write who holds it inside."""
    if not database or database == ":memory:" or database.startswith("file:") or fcntl is None:
        yield  # nothing to lock beside (in-memory) or no flock (Windows): BEGIN IMMEDIATE only
        return
    # One lock per file, however it is named: a symlink to it shares its lock.
    fd = os.open(os.path.realpath(database) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        announced = False
        while not _try_flock(fd):
            if not announced:
                log.info("%s: waiting up to %.0fs for the lock held by %s", project, timeout,
                         _holder_in(fd))  # fmt: skip
                announced = True
            if time.monotonic() >= deadline:
                raise _timed_out(project, timeout, _holder_in(fd))
            time.sleep(_POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _whoami().encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock (so does the process dying)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder_in(fd: int) -> str:
    text = os.pread(fd, 512, 0).decode(errors="replace").strip()
    return text or "another process"


def _whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container uid with no passwd entry
        user = str(os.getuid())
    since = dt.datetime.now().astimezone().strftime("%H:%M:%S")
    return f"pid {os.getpid()} (user {user}, on {socket.gethostname()}, since {since})"
