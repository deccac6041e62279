"""Fixtures for the reliability catalogue: a private PostgreSQL server to restart and to
check passwords on (never the shared one), and runner processes to hurt."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.conftest import Runner, load_scenario
from tests.databases import Database
from tests.reliability.checks import PASSWORD


@dataclass(frozen=True)
class PrivateServer:
    """A PostgreSQL cluster of our own on another loopback port, with password checks."""

    version: str
    name: str
    port: int

    def url(self, database: str = "postgres", password: str = PASSWORD) -> URL:
        return URL.create(
            "postgresql+psycopg", username="app", password=password, host="127.0.0.1",
            port=self.port, database=database,
        )  # fmt: skip

    def ctl(self, action: str, *extra: str) -> None:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action,
             *extra], check=True, capture_output=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                             check=False).returncode != 0:  # fmt: skip
            assert time.monotonic() < deadline, "private server did not come back"
            time.sleep(0.1)

    def create_database(self, name: str) -> URL:
        engine = sa.create_engine(
            self.url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with engine.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
        return self.url(name)


def _drop_cluster(version: str, name: str) -> None:
    subprocess.run(["pg_dropcluster", "--stop", version, name], capture_output=True, check=False)


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivateServer]:
    """A cluster made for this test session and dropped after it (pg_createcluster)."""
    problem = None
    if shutil.which("pg_createcluster") is None or not Path("/etc/postgresql").is_dir():
        problem = "no pg_createcluster (Debian's postgresql-common) on this machine"
    elif os.getuid() != 0:
        problem = "making a private PostgreSQL cluster needs root"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the restart and password cases, but {problem}")
        pytest.skip(problem)
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    name, port = f"dalembic_rt{index}", 5441 + index
    _drop_cluster(version, name)  # a leftover of a run that was killed
    subprocess.run(
        ["pg_createcluster", version, name, "-p", str(port), "--", "--auth-host=scram-sha-256",
         "--auth-local=peer"], check=True, capture_output=True,
    )  # fmt: skip
    server = PrivateServer(version, name, port)
    try:
        server.ctl("start")
        server.wait_ready()
        subprocess.run(
            ["su", "postgres", "-c",
             f"psql -h /var/run/postgresql -p {port} -qc \"CREATE ROLE app LOGIN SUPERUSER"
             f" PASSWORD '{PASSWORD}'\""], check=True, capture_output=True,
        )  # fmt: skip
        yield server
    finally:
        _drop_cluster(version, name)


@pytest.fixture
def slow(run: Runner, root: Path, db: Database) -> Database:
    """The 'slow' scenario (s1, a slow s2, s3) pointed at a fresh database."""
    load_scenario("slow", root)
    run.env["SLOWPOKE_DATABASE_URL"] = db.url_string
    return db


class Process:
    """A runner in a process of its own, to signal, kill or race."""

    def __init__(
        self, run: Runner, *args: str, seconds: float = 0, env: dict[str, str] | None = None
    ) -> None:
        environ = {**os.environ, **run.env, "RUNNER_ROOT": str(run.root),
                   "SLOWPOKE_SECONDS": str(seconds), **(env or {})}  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner", *args], env=environ, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.seen: list[str] = []

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Read stderr until a line holds ``text`` (Alembic names the step it starts)."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        for line in self.proc.stderr:
            self.seen.append(line)
            if text in line:
                return
            assert time.monotonic() < deadline, "".join(self.seen)
        raise AssertionError(f"the runner ended before {text!r}:\n{''.join(self.seen)}")

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        out, err = self.proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out,
                                           "".join(self.seen) + err)  # fmt: skip
