"""Every task of the repository, in one list (``nox -l``). The Makefile calls these."""

from __future__ import annotations

import hashlib
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


@nox.session
def migrate(session: nox.Session) -> None:
    """Upgrade one project: nox -s migrate -- NAME [REV]."""
    if not session.posargs:
        session.error("name a project: nox -s migrate -- NAME [REV]")
    _install(session)
    session.run("python", "-m", "runner", "upgrade", *session.posargs)


@nox.session
@nox.parametrize("project", [nox.param(name, id=name) for name in _projects()])
def upgrade(session: nox.Session, project: str) -> None:
    """Upgrade a project to head: nox -s "upgrade(NAME)"; nox -s upgrade does each in turn."""
    _install(session)
    session.run("python", "-m", "runner", "upgrade", project, *session.posargs)


@nox.session
def verify(session: nox.Session) -> None:
    """Round-trip a project on a throw-away database: nox -s verify -- NAME [--db ...]."""
    if not session.posargs:
        session.error("name a project (or --all): nox -s verify -- NAME [--db postgresql]")
    _install(session)
    session.run("python", "-m", "runner", "test", *session.posargs)


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
