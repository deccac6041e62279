"""Throw-away databases for the tests: one fresh database per test, dropped after.

Servers come from, in order: ``RUNNER_TEST_POSTGRES_URL`` / ``RUNNER_TEST_MYSQL_URL``
(an admin URL to a running server), the standard local servers (unless
``RUNNER_TEST_PROBE_LOCAL=0``), a testcontainers container when a Docker engine
answers (:func:`runner.db.scratch.start_container`: ``RUNNER_TEST_POSTGRES_IMAGE`` /
``RUNNER_TEST_MYSQL_IMAGE``, ``RUNNER_TEST_DOCKER_NETWORK``), else the test is
skipped with the reason. Under ``CI`` a server that was promised fails the test
instead of skipping it: a URL that is set but does not connect, or a container
image that is named but gives no container.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from runner.db import backends, scratch
from runner.errors import RunnerError
from runner.output import redact


@dataclass(frozen=True)
class Database:
    """A fresh, empty database and how to reach it."""

    backend: str
    url: URL

    @property
    def url_string(self) -> str:
        return self.url.render_as_string(hide_password=False)

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    def tables(self) -> set[str]:
        with self.connect() as connection:
            return set(sa.inspect(connection).get_table_names())

    def scalar_rows(self, sql: str) -> list[tuple[object, ...]]:
        with self.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(sql)]


# Where a developer's machine usually has them (PostgreSQL: the postgres user, trust
# auth on loopback; MariaDB: root without a password), tried when the variable is
# unset. RUNNER_TEST_PROBE_LOCAL=0 skips them (the testcontainers run in .ci/run).
LOCAL = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/mysql",
}


def _connects(url: URL) -> Exception | None:
    """None when ``url`` connects within a few seconds, else why not."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except Exception as exc:
        return exc
    finally:
        engine.dispose()


def describe(pool: ServerPool) -> str:
    """One line: which server each backend's tests use (for pytest's header)."""
    parts = []
    for backend in ("postgresql", "mysql"):
        url = pool.locate(backend)
        where = url.render_as_string(hide_password=True) if url else pool.why(backend)
        parts.append(f"{backend}: {where}")
    return "database servers: " + "; ".join(parts)


class ServerPool:
    """Admin URLs of the servers tests may use, found once per session."""

    def __init__(self) -> None:
        self._admin: dict[str, URL | None] = {}
        self._why: dict[str, str] = {}
        self._containers: list[Any] = []
        self._failed: dict[str, str] = {}  # failed under CI: every later test fails at once

    def admin_url(self, backend: str) -> URL:
        url = self.found(backend)
        if url is None:
            pytest.skip(self._why[backend])
        return url

    def found(self, backend: str) -> URL | None:
        """The admin URL for ``backend``, found (or started) on first use."""
        if backend in self._failed:
            pytest.fail(self._failed[backend])
        if backend not in self._admin:
            self._admin[backend] = self._export(backend, self._find(backend))
        return self._admin[backend]

    @staticmethod
    def _export(backend: str, url: URL | None) -> URL | None:
        """Put a server found by probing (or started) where the runner looks for one
        itself: a runner the tests start (``runner test``) must use the same server, not
        try a container of its own because the variable was never set."""
        variable = backends.backend(backend).test_server_variable
        if url is not None and variable is not None:
            os.environ.setdefault(variable, url.render_as_string(hide_password=False))
        return url

    def why(self, backend: str) -> str:
        return self._why.get(backend, "")

    def locate(self, backend: str) -> URL | None:
        """Like :meth:`found`, without starting a container (says it would) or failing:
        for the report header, before any test runs."""
        if backend in self._admin:
            return self._admin[backend]
        url = self._export(backend, self._find(backend, start=False))
        if url is not None:
            self._admin[backend] = url
            self._why.pop(backend, None)
        elif backend not in self._why:
            image = scratch.container_image(backends.backend(backend))
            self._why[backend] = f"a testcontainers container from {image}, when a test needs it"
        return url

    def _find(self, backend: str, start: bool = True) -> URL | None:
        variable = backends.backend(backend).test_server_variable
        assert variable is not None
        raw = os.environ.get(variable)
        if raw:
            url = make_url(raw)
            problem = _connects(url)
            if problem is not None:
                message = f"{variable} is set but does not connect: {type(problem).__name__}"
                if os.environ.get("CI") and start:  # the test fails; the header only says
                    self._fail(backend, message)
                self._why[backend] = message
                return None
            return url
        if os.environ.get("RUNNER_TEST_PROBE_LOCAL", "1") != "0":
            local = make_url(LOCAL[backend])
            if _connects(local) is None:
                return local
        if scratch.docker_answers():
            return self._start_container(backend) if start else None
        local = make_url(LOCAL[backend])
        message = (
            f"no {backend} server: set {variable}, run one at {local.host}:{local.port}"
            " or start a Docker engine"
        )
        if start:
            self._fail_if_promised(backend, message)
        self._why[backend] = message
        return None

    def _start_container(self, backend: str) -> URL | None:
        try:
            container, url = scratch.start_container(backends.backend(backend))
        except RunnerError as exc:  # no image and no registry, for example: it says which
            message = redact.scrub(str(exc))
            self._fail_if_promised(backend, message)
            self._why[backend] = message
            return None
        self._containers.append(container)
        return url

    def _fail_if_promised(self, backend: str, message: str) -> None:
        """Under ``CI``, a container image named for ``backend`` (.ci/run's second pass) is
        a promise: its tests fail rather than skip when no container starts."""
        variable = backends.backend(backend).container_image_variable
        if os.environ.get("CI") and variable and os.environ.get(variable):
            self._fail(
                backend, f"{variable} is set but no container serves the {backend} tests: {message}"
            )

    def _fail(self, backend: str, message: str) -> None:
        self._failed[backend] = message
        pytest.fail(message)

    def close(self) -> None:
        """Remove every container this pool started, each whatever the others do."""
        problems = []
        for container in self._containers:
            try:
                container.stop()
            except Exception as exc:
                problems.append(f"{type(exc).__name__}: {exc}")
        self._containers.clear()
        assert not problems, f"containers not removed: {problems}"

    @contextmanager
    def fresh(self, backend: str, tmp_path: Path, name: str = "test") -> Iterator[Database]:
        """A new empty database on ``backend``, dropped afterwards (``name``: the SQLite
        file's, so one test can have several)."""
        if backend == "sqlite":
            path = tmp_path / "db" / f"{name}.sqlite"
            path.parent.mkdir(parents=True, exist_ok=True)
            sqlite3.connect(path).close()
            yield Database("sqlite", URL.create("sqlite", database=str(path)))
            return
        with scratch.fresh_database(self.admin_url(backend)) as url:
            yield Database(backend, url)
