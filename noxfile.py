"""Every task of the repository, in one list (``nox -l``). The Makefile calls these."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_missing_interpreters = False


def _projects() -> list[str]:
    """Project folders (those with an alembic.ini), for the per-project sessions."""
    return sorted(p.parent.name for p in (ROOT / "projects").glob("*/alembic.ini"))


def _install(session: nox.Session, extras: str = "") -> None:
    """Install the runner (editable) into the session's virtualenv, once per pyproject.toml.

    An editable install picks up code changes by itself; only new dependencies
    need pip again, and pip takes seconds even to find nothing to do.
    """
    location = getattr(session.virtualenv, "location", None)
    stamp = Path(location) / ".docker-alembic-installed" if location else None
    wanted = f"{extras}:{hashlib.sha256((ROOT / 'pyproject.toml').read_bytes()).hexdigest()}"
    if stamp is not None and stamp.is_file() and stamp.read_text() == wanted:
        return
    session.install("-e", f".{extras}")
    if stamp is not None:
        stamp.write_text(wanted)


# One worker per core (on 2 cores, 3 or 4 workers measured no faster); each worker
# makes its own databases, and the image tests share one worker (xdist_group).
PYTEST_WORKERS = ["-n", "auto", "--dist", "loadgroup"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite with pytest, in parallel (posargs go to pytest; -n 0: serial)."""
    _install(session, "[dev]")
    session.run("pytest", *PYTEST_WORKERS, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check), mypy --strict and hadolint on the Dockerfile."""
    _install(session, "[dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("hadolint", "docker/Dockerfile")


def _runner(session: nox.Session, *args: str) -> None:
    """Run the runner with the repository's .venv (what `make` bootstraps), no session
    virtualenv: these sessions only call the runner, and building one per project (and
    reinstalling it each run) cost tens of seconds for nothing."""
    python = ROOT / ".venv" / "bin" / "python"
    interpreter = str(python) if python.exists() else sys.executable
    probe = subprocess.run([interpreter, "-c", "import runner"], capture_output=True, check=False)
    if probe.returncode != 0:
        session.error(f"the runner is not installed for {interpreter}: run `make bootstrap` first")
    session.run(interpreter, "-m", "runner", *args, external=True)


@nox.session(venv_backend="none")
def migrate(session: nox.Session) -> None:
    """Upgrade one project: nox -s migrate -- NAME [REV] [runner options]."""
    if not session.posargs:
        session.error("name a project: nox -s migrate -- NAME [REV]")
    _runner(session, "upgrade", *session.posargs)


@nox.session(venv_backend="none")
@nox.parametrize("project", [nox.param(name, id=name) for name in _projects()])
def upgrade(session: nox.Session, project: str) -> None:
    """Upgrade a project to head: nox -s "upgrade(NAME)"; nox -s upgrade does each in turn."""
    _runner(session, "upgrade", project, *session.posargs)


@nox.session(venv_backend="none")
def roundtrip(session: nox.Session) -> None:
    """Round-trip a project on a throw-away database: nox -s roundtrip -- NAME [--db ...]."""
    if not session.posargs:
        session.error("name a project (or --all): nox -s roundtrip -- NAME [--db postgresql]")
    _runner(session, "test", *session.posargs)


@nox.session(venv_backend="none")
def verify(session: nox.Session) -> None:
    """The old name of roundtrip (kept for one release; runner verify checks checksums)."""
    session.warn("nox -s verify is now nox -s roundtrip (runner verify checks checksums)")
    roundtrip(session)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run every benchmarks/bench_*.py (slow; figures go to benchmarks/RESULTS.md)."""
    _install(session, "[dev]")
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session(default=False)
def image(session: nox.Session) -> None:
    """Build wheels and the Docker image: nox -s image -- [--tag T] [--base-image B]."""
    session.run("python", "docker/build_image.py", *session.posargs, external=True)
