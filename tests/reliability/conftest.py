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


def _drop_leftovers(version: str) -> None:
    """Clusters of test sessions that were killed: their process is gone."""
    for folder in Path("/etc/postgresql", version).glob("dalembic_*"):
        pid = folder.name.removeprefix("dalembic_")
        if pid.isdigit() and not Path("/proc", pid).exists():
            _drop_cluster(version, folder.name)


def _free_port(skip: int = 0) -> int:
    """A loopback port no server listens on, from a range of our own. The scan starts at
    an offset of this process's own, so sessions side by side rarely pick the same one."""
    import socket

    ports = list(range(5441, 5541))
    start = (os.getpid() + skip * 7) % len(ports)
    for port in ports[start:] + ports[:start]:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise AssertionError("no free port between 5441 and 5540 for a private cluster")


def _started(version: str, name: str, attempts: int = 5) -> PrivateServer:
    """A new cluster, started. Another session may take the port between our probe and
    our start: then the start fails, and the next attempt scans from elsewhere."""
    for attempt in range(attempts):
        port = _free_port(attempt)
        subprocess.run(
            ["pg_createcluster", version, name, "-p", str(port), "--",
             "--auth-host=scram-sha-256", "--auth-local=peer"], check=True, capture_output=True,
        )  # fmt: skip
        server = PrivateServer(version, name, port)
        try:
            server.ctl("start")
            server.wait_ready()
            return server
        except (subprocess.CalledProcessError, AssertionError):
            _drop_cluster(version, name)
    raise AssertionError(f"no private PostgreSQL cluster started in {attempts} attempts")


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
    _drop_leftovers(version)
    # Named after this process, on a port nobody uses: test sessions running side by
    # side on one machine (two checkouts, two CI jobs) never share or drop each other's.
    name = f"dalembic_{os.getpid()}"
    server = _started(version, name)
    port = server.port
    try:
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
        self, run: Runner, *args: str, seconds: float = 0, env: dict[str, str] | None = None,
        gate: Path | None = None,
    ) -> None:  # fmt: skip
        environ = {**os.environ, **run.env, "RUNNER_ROOT": str(run.root),
                   "SLOWPOKE_SECONDS": str(seconds), **(env or {})}  # fmt: skip
        if gate is not None:  # the slow step holds until the test calls open_gate()
            environ["SLOWPOKE_GATE"] = str(gate)
        self.gate = gate
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

    def open_gate(self) -> None:
        """Let the slow step of this run go on (it was started with ``gate=``)."""
        assert self.gate is not None
        self.gate.touch()

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        out, err = self.proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out,
                                           "".join(self.seen) + err)  # fmt: skip
