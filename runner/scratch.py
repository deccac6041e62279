"""Throw-away databases: a fresh, empty database per use, dropped afterwards.

Used by ``runner test`` (the round trip) and by the test suite. A server comes
from, in order: an explicit admin URL (``--server-url``), the variable
``RUNNER_TEST_POSTGRES_URL`` / ``RUNNER_TEST_MYSQL_URL``, or a testcontainers
container when a Docker engine answers. SQLite needs no server: a temporary
file is enough.

Each fresh database on a server is named ``<prefix><random hex>`` and dropped
when the ``with`` block ends, whether it ended well or not.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from runner import redact
from runner.database import describe_db_error
from runner.errors import ConfigError, DatabaseUnreachable

BACKENDS = ("sqlite", "postgresql", "mysql")
ENV_VARS = {"postgresql": "RUNNER_TEST_POSTGRES_URL", "mysql": "RUNNER_TEST_MYSQL_URL"}

# The drivers the runner ships, as in runner.targets: a bare scheme would pick
# psycopg2 or mysqlclient, which are not installed.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_IMAGES = {"postgresql": "postgres:16", "mysql": "mariadb:11"}


def admin_url(raw: str, source: str) -> URL:
    """Parse an admin URL, pick the shipped driver for a bare scheme, register its password."""
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        # The message would echo the URL, password included.
        raise ConfigError(f"the server URL from {source} is not a valid SQLAlchemy URL") from exc
    redact.register(url.password if isinstance(url.password, str) else None)
    return url.set(drivername=_DEFAULT_DRIVERS.get(url.drivername, url.drivername))


def docker_answers() -> bool:
    """True when a Docker engine answers a ping within a few seconds."""
    try:
        import docker

        docker.from_env(timeout=3).ping()  # type: ignore[attr-defined]
    except Exception:
        return False
    return True


def start_container(backend: str) -> tuple[Any, URL]:
    """Start a testcontainers container for ``backend``; the caller stops it."""
    if backend == "postgresql":
        from testcontainers.community.postgres import PostgresContainer

        container: Any = PostgresContainer(_IMAGES[backend], driver="psycopg")
    else:
        from testcontainers.community.mysql import MySqlContainer

        container = MySqlContainer(_IMAGES[backend], dialect="pymysql")
    container.start()
    return container, make_url(container.get_connection_url())


@contextmanager
def fresh_database(admin: URL, prefix: str = "dalembic_") -> Iterator[URL]:
    """Create an empty database on ``admin``'s server, yield its URL, drop it afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    backend = admin.get_backend_name()
    engine = sa.create_engine(admin, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        _execute(engine, admin, f"CREATE DATABASE {name}")
        try:
            yield admin.set(database=name)
        finally:
            drop = f"DROP DATABASE IF EXISTS {name}"
            if backend == "postgresql":
                # Also ends sessions a failed migration may have left open.
                drop += " WITH (FORCE)"
            _execute(engine, admin, drop)
    finally:
        engine.dispose()


def _execute(engine: sa.Engine, admin: URL, sql: str) -> None:
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(sql)
    except DBAPIError as exc:
        shown = admin.render_as_string(hide_password=True)
        message = (
            f"server {shown}: {sql.split(maxsplit=1)[0]} DATABASE failed: {describe_db_error(exc)}"
        )
        if isinstance(exc, OperationalError):
            raise DatabaseUnreachable(message) from exc
        # Anything else (no CREATE privilege, for one) is the admin URL's problem.
        raise ConfigError(message) from exc


@contextmanager
def sqlite_file() -> Iterator[URL]:
    """A new empty SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="dalembic_rt_") as folder:
        path = Path(folder) / "roundtrip.sqlite"
        sqlite3.connect(path).close()
        yield URL.create("sqlite", database=str(path))


@dataclass
class ScratchServer:
    """Where throw-away databases of one backend are made, for the length of a run."""

    backend: str
    admin: URL | None  # None for SQLite

    @contextmanager
    def database(self, prefix: str = "dalembic_rt_") -> Iterator[URL]:
        """A fresh empty database on this server (a temporary file for SQLite)."""
        if self.admin is None:
            with sqlite_file() as url:
                yield url
            return
        with fresh_database(self.admin, prefix) as url:
            yield url


@contextmanager
def scratch_server(
    backend: str, server_url: str | None = None, environ: Mapping[str, str] = os.environ
) -> Iterator[ScratchServer]:
    """Find (or start) a server for ``backend``; a started container stops afterwards."""
    if backend == "sqlite":
        yield ScratchServer(backend, None)
        return
    if backend not in ENV_VARS:
        raise ConfigError(f"unknown database kind {backend!r}: use one of {', '.join(BACKENDS)}")
    variable = ENV_VARS[backend]
    if server_url:
        yield ScratchServer(backend, admin_url(server_url, "--server-url"))
        return
    if environ.get(variable):
        yield ScratchServer(backend, admin_url(environ[variable], variable))
        return
    if not docker_answers():
        raise ConfigError(
            f"no {backend} server for a throw-away database: set {variable} to an admin URL"
            " (or pass --server-url URL), or start a Docker engine for testcontainers"
        )
    try:
        container, url = start_container(backend)
    except Exception as exc:  # no image and no registry, for example
        raise ConfigError(
            f"Docker answered but no {backend} container could start ({type(exc).__name__});"
            f" set {variable} to an admin URL instead"
        ) from exc
    try:
        yield ScratchServer(backend, url)
    finally:
        container.stop()
