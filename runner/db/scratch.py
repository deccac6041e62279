"""Throw-away databases: a fresh, empty database per use, dropped afterwards.

Used by ``runner test`` (the round trip) and by the test suite. A server comes
from, in order: an explicit admin URL (``--server-url``), the variable
``RUNNER_TEST_POSTGRES_URL`` / ``RUNNER_TEST_MYSQL_URL``, or a testcontainers
container when a Docker engine answers (image: ``RUNNER_TEST_POSTGRES_IMAGE`` /
``RUNNER_TEST_MYSQL_IMAGE``, default the official one; network:
``RUNNER_TEST_DOCKER_NETWORK``). SQLite needs no server: a temporary file is
enough.

Each fresh database on a server is named ``<prefix><random hex>`` and dropped
when the ``with`` block ends, whether it ended well or not.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import secrets
import socket
import sqlite3
import tempfile
import time
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
from runner.output import redact

log = logging.getLogger("runner")

# The Docker network containers join (optional). Where the engine's default network
# publishes no port (dockerd --bridge=none, as docker/engine.sh starts it), a
# user-defined bridge does; docker/db-images.sh makes one, "docker-alembic".
NETWORK_VARIABLE = "RUNNER_TEST_DOCKER_NETWORK"
# testcontainers' own switch for Ryuk, its clean-up container, named in the error
# where Ryuk's image cannot be pulled.
RYUK_VARIABLE = "TESTCONTAINERS_RYUK_DISABLED"
# On every container the runner starts: its backend, and the process that started it.
SCRATCH_LABEL = "docker-alembic.scratch"
PID_LABEL = "docker-alembic.pid"


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


def container_image(kind: Backend, environ: Mapping[str, str] = os.environ) -> str:
    """The image a ``kind`` container starts from: its variable's, else the official one."""
    assert kind.container_image is not None, f"{kind.label} has no container"
    variable = kind.container_image_variable
    return (environ.get(variable) if variable else None) or kind.container_image


def start_container(kind: Backend, environ: Mapping[str, str] = os.environ) -> tuple[Any, URL]:
    """Start a testcontainers container for ``kind``; the caller stops it.

    Returns the container and the admin URL that reaches it from here (testcontainers
    works out the host: the engine's, or the network's gateway inside a container).
    A container that does not get ready is removed before the :class:`ConfigError`
    that says what to set: testcontainers itself leaves it running, and without
    Ryuk nothing else would remove it.
    """
    image = container_image(kind, environ)
    container = _new_container(kind, image, environ)
    began = time.monotonic()
    try:
        container.start()
        url = make_url(container.get_connection_url())
    except Exception as exc:
        _remove(container)
        raise ConfigError(_not_started(kind, image, exc, environ)) from exc
    except BaseException:  # Ctrl-C or SIGTERM while it starts: remove it all the same
        _remove(container)
        raise
    log.info(
        "started a %s container from %s at %s:%s in %.1fs (removed when the run ends)",
        kind.label, image, url.host, url.port, time.monotonic() - began,
    )  # fmt: skip
    return container, url


def _new_container(kind: Backend, image: str, environ: Mapping[str, str]) -> Any:
    """The testcontainers object for ``kind``, configured, not started."""
    assert kind.container_class is not None, f"{kind.label} has no container"
    module_name, class_name = kind.container_class.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # a dev dependency: the image and `pip install .` lack it
        raise ConfigError(
            f"no {kind.name} server for a throw-away database: testcontainers is not installed"
            f" (pip install testcontainers), or set {kind.test_server_variable} to an admin URL"
        ) from exc
    # Our own, not testcontainers' "test": the port is published on every interface
    # of the host. Registered, so no output (a driver's message, a traceback) shows it.
    password = secrets.token_hex(16)
    redact.register(password)
    container = getattr(module, class_name)(image, password=password, **dict(kind.container_kwargs))
    # Labels find a container a killed run left behind (Ryuk off):
    # docker ps -a --filter label=docker-alembic.scratch
    options: dict[str, Any] = {
        "labels": {SCRATCH_LABEL: kind.name, PID_LABEL: str(os.getpid())},
    }
    network = environ.get(NETWORK_VARIABLE)
    if network:
        options["network"] = network
    container.with_kwargs(**options)  # one call: each call replaces the last one's options
    return container


def _remove(container: Any) -> None:
    """Remove a container that failed to start; the start's own error is the one to tell."""
    with contextlib.suppress(Exception):
        container.stop()


def _not_started(kind: Backend, image: str, exc: Exception, environ: Mapping[str, str]) -> str:
    """One line: why no ``kind`` container started, and what to set."""
    return (
        f"no {kind.name} container started from {image}: {_cause(kind, image, exc, environ)};"
        f" or set {kind.test_server_variable} to an admin URL"
    )


def _cause(kind: Backend, image: str, exc: Exception, environ: Mapping[str, str]) -> str:
    """What went wrong, read from the engine afterwards rather than from the exception:
    an image testcontainers needed and could not pull is still missing."""
    from testcontainers.core.config import testcontainers_config as config

    engine = _Engine()
    try:
        if not config.ryuk_disabled and not engine.has_image(config.ryuk_image):
            return (
                f"testcontainers' clean-up container ({config.ryuk_image}) is not on the Docker"
                f" engine and could not be pulled: set {RYUK_VARIABLE}=true (the runner removes"
                " its containers itself)"
            )
        if not engine.has_image(image):
            return (
                "the image is not on the Docker engine and could not be pulled: set"
                f" {kind.container_image_variable} to a local image"
                " (bash docker/db-images.sh builds one without a registry)"
            )
        network = environ.get(NETWORK_VARIABLE)
        if network and not engine.has_network(network):
            return (
                f"the Docker engine has no network {network!r} ({NETWORK_VARIABLE}):"
                f" create it (docker network create {network}) or unset {NETWORK_VARIABLE}"
            )
        if not network and not engine.has_network("bridge"):
            # dockerd --bridge=none: a container on the default network has no port to publish
            return (
                "the Docker engine has no default bridge network to publish its port on:"
                f" set {NETWORK_VARIABLE} to a user-defined bridge network"
                " (docker network create NAME; docker/db-images.sh makes docker-alembic)"
            )
    finally:
        engine.close()
    if isinstance(exc, TimeoutError):
        return (
            f"it was not ready after {config.timeout:.0f}s: is it a {kind.label} image?"
            f" (set {kind.container_image_variable})"
        )
    detail = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class _Engine:
    """Just enough of docker-py to ask what the engine has; every answer False when it
    cannot be asked (the start's error is then the best there is)."""

    def __init__(self) -> None:
        try:
            import docker

            self._client: Any = docker.from_env(timeout=5)  # type: ignore[attr-defined]
        except Exception:
            self._client = None

    def has_image(self, name: str) -> bool:
        return self._asks(lambda client: client.images.get(name))

    def has_network(self, name: str) -> bool:
        return self._asks(lambda client: client.networks.get(name))

    def _asks(self, question: Any) -> bool:
        if self._client is None:
            return True  # nothing known: do not blame what may be there
        try:
            question(self._client)
        except Exception:
            return False
        return True

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


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
    container, url = start_container(kind, environ)
    try:
        yield ScratchServer(kind, url)
    finally:
        container.stop()
