"""Open connections to a target, and turn driver failures into runner errors.

Two things here are deliberate:

* SQLite gets real transactions. pysqlite's default handling commits before
  DDL, which makes a failed upgrade leave half its objects behind. We switch the
  driver to autocommit and emit ``BEGIN`` ourselves, the recipe from the
  SQLAlchemy SQLite dialect documentation, so a whole upgrade is all-or-nothing.
* Connection failures are classified once, here: a missing driver is a
  configuration problem (exit 2), an unreachable server or a refused login is
  exit 3, and the message never carries the password.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event, pool
from sqlalchemy.engine import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError, NoSuchModuleError

from runner import redact
from runner.errors import DatabaseUnreachable, DriverMissing
from runner.locking import DEFAULT_TIMEOUT, SQLITE_BEGIN_KEY
from runner.projects import Project
from runner.targets import Target

# Which package to install for a driver SQLAlchemy could not import.
_DRIVER_PACKAGES = {
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]",
    "asyncpg": "asyncpg",
    "pg8000": "pg8000",
    "pymysql": "PyMySQL",
    "mysqldb": "mysqlclient",
    "mysqlconnector": "mysql-connector-python",
    "mariadbconnector": "mariadb",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
    "oracledb": "oracledb",
    "cx_oracle": "cx_Oracle",
}

APPLICATION_NAME = "docker-alembic"


def create_target_engine(
    project: Project, target: Target, lock_timeout: float = DEFAULT_TIMEOUT
) -> Engine:
    """An engine for ``target`` with no pooling (one run, one connection)."""
    connect_args: dict[str, Any] = {}
    backend = target.url.get_backend_name()
    if backend == "postgresql" and target.url.get_driver_name() in {"psycopg", "psycopg2"}:
        # Shows up in pg_stat_activity, so a DBA can tell who holds a lock.
        connect_args["application_name"] = f"{APPLICATION_NAME}:{project.name}"
    if backend in {"postgresql", "mysql", "mariadb"}:
        connect_args["connect_timeout"] = 10
    if backend == "sqlite":
        # How long to wait for another writer's lock (SQLite's busy timeout).
        connect_args["timeout"] = lock_timeout
    try:
        engine = create_engine(target.url, poolclass=pool.NullPool, connect_args=connect_args)
    except NoSuchModuleError as exc:
        raise DriverMissing(
            f"{project.name}: no SQLAlchemy dialect for {target.url.drivername!r}"
            f" (URL from {target.source}); check the URL's scheme or install the dialect's package"
        ) from exc
    except ModuleNotFoundError as exc:
        driver = target.url.get_driver_name()
        package = _DRIVER_PACKAGES.get(driver, exc.name or driver)
        raise DriverMissing(
            f"{project.name}: database driver {driver!r} is not installed"
            f" (URL from {target.source}); install it with: pip install '{package}'"
        ) from exc
    if backend == "sqlite":
        _make_sqlite_transactional(engine)
    return engine


def _make_sqlite_transactional(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own BEGIN/COMMIT around statements.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # runner.locking asks for BEGIN IMMEDIATE: the write lock, taken up front.
        connection.exec_driver_sql(connection.info.get(SQLITE_BEGIN_KEY, "BEGIN"))


def connect(project: Project, target: Target, engine: Engine) -> Connection:
    """Open a connection, creating the embedded SQLite file's folder on demand."""
    path = target.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return engine.connect()
    except DBAPIError as exc:
        raise DatabaseUnreachable(
            f"{project.name}: cannot connect to {target.display} (URL from {target.source}):"
            f" {describe_db_error(exc)}"
        ) from exc


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
