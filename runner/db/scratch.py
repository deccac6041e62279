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

import importlib
import os
import socket
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
from sqlalchemy.exc import DBAPIError, OperationalError

from runner.db.backends import NAMES, Backend, backend
from runner.db.connect import describe_db_error
from runner.db.target import file_target, parse_url
from runner.errors import ConfigError, DatabaseUnreachable


def admin_url(raw: str, source: str) -> URL:
    """Parse an admin URL, pick the shipped driver for a bare scheme, register its password."""
    return parse_url(raw, source, what="server URL")


def docker_answers(environ: Mapping[str, str] = os.environ) -> bool:
    """True when a Docker engine answers ``GET /_ping`` within a few seconds.

    Asked on a socket of our own, closed whatever happens: docker-py leaves the socket
    of a failed connection open, and its ResourceWarning then failed whichever test
    ran next (warnings are errors in the suite). TLS engines go through docker-py.
    """
    host = environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    scheme, _, where = host.partition("://")
    try:
        if scheme == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect(where)
                return _pinged(sock)
        if scheme == "tcp" and not environ.get("DOCKER_TLS_VERIFY"):
            address, _, port = where.rstrip("/").rpartition(":")
            with socket.create_connection((address, int(port or 2375)), timeout=3) as sock:
                return _pinged(sock)
    except (OSError, ValueError):
        return False
    return _docker_py_answers()


def _pinged(sock: socket.socket) -> bool:
    sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    status = sock.recv(64).split(b"\r\n", 1)[0]
    return status.startswith(b"HTTP/1.") and b" 200" in status


def _docker_py_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)  # type: ignore[attr-defined]
    except Exception:
        return False
    try:
        client.ping()
    except Exception:
        return False
    finally:
        client.close()
    return True


def start_container(kind: Backend) -> tuple[Any, URL]:
    """Start a testcontainers container for ``kind``; the caller stops it."""
    assert kind.container_class is not None, f"{kind.label} has no container"
    module_name, class_name = kind.container_class.split(":")
    container_class = getattr(importlib.import_module(module_name), class_name)
    container = container_class(kind.container_image, **dict(kind.container_kwargs))
    container.start()
    return container, make_url(container.get_connection_url())


@contextmanager
def fresh_database(admin: URL, prefix: str = "dalembic_") -> Iterator[URL]:
    """Create an empty database on ``admin``'s server, yield its URL, drop it afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    kind = backend(admin.get_backend_name())
    engine = sa.create_engine(admin, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        _execute(engine, admin, f"CREATE DATABASE {name}")
        try:
            yield admin.set(database=name)
        finally:
            # The suffix (PostgreSQL: WITH (FORCE)) also ends sessions a failed
            # migration may have left open.
            _execute(engine, admin, f"DROP DATABASE IF EXISTS {name}{kind.drop_database_suffix}")
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
        yield file_target(path, "throw-away file").url


@dataclass
class ScratchServer:
    """Where throw-away databases of one backend are made, for the length of a run."""

    kind: Backend
    admin: URL | None  # None for a file-based backend

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
    name: str, server_url: str | None = None, environ: Mapping[str, str] = os.environ
) -> Iterator[ScratchServer]:
    """Find (or start) a server for backend ``name``; a started container stops afterwards."""
    kind = backend(name)
    if kind.file_based:
        yield ScratchServer(kind, None)
        return
    variable = kind.test_server_variable
    if variable is None:
        raise ConfigError(f"unknown database kind {name!r}: use one of {', '.join(NAMES)}")
    if server_url:
        yield ScratchServer(kind, admin_url(server_url, "--server-url"))
        return
    if environ.get(variable):
        yield ScratchServer(kind, admin_url(environ[variable], variable))
        return
    if not docker_answers():
        raise ConfigError(
            f"no {name} server for a throw-away database: set {variable} to an admin URL"
            " (or pass --server-url URL), or start a Docker engine for testcontainers"
        )
    try:
        container, url = start_container(kind)
    except Exception as exc:  # no image and no registry, for example
        raise ConfigError(
            f"Docker answered but no {name} container could start ({type(exc).__name__});"
            f" set {variable} to an admin URL instead"
        ) from exc
    try:
        yield ScratchServer(kind, url)
    finally:
        container.stop()
