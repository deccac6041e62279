"""Shared fixtures: scenario trees, the CLI, and fresh databases per backend."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner import cli
from runner.project import repository as projects
from tests.databases import Database, ServerPool

SCENARIOS = Path(__file__).parent / "scenarios"
# What a run of the 'slow' scenario prints when s1 is done: s2, the slow revision,
# starts right after it (the runner prints a step's line when the step is done).
IN_S2 = "upgrade base -> s1,"
REPO = Path(__file__).parent.parent
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@dataclass(frozen=True)
class Outcome:
    """What one CLI run did."""

    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


class Runner:
    """Runs the real CLI against one repository root, in-process or as a subprocess."""

    def __init__(
        self, root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.root = root
        self.env: dict[str, str] = {}
        self._capsys = capsys
        self._monkeypatch = monkeypatch

    def __call__(self, *args: str) -> Outcome:
        """In-process: ``runner.cli.main`` with our root and environment."""
        self._capsys.readouterr()
        with self._monkeypatch.context() as patch:
            for key, value in self.env.items():
                patch.setenv(key, value)
            try:
                cli.main(["--root", str(self.root), *args])
            except SystemExit as exc:
                code = int(exc.code or 0)
            else:  # pragma: no cover - main always exits
                code = 0
        captured = self._capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    def ok(self, *args: str) -> Outcome:
        """Run and require exit 0 (shows the output when it is not)."""
        outcome = self(*args)
        assert outcome.code == 0, outcome.output
        return outcome

    def subprocess(self, *args: str, timeout: float = 120) -> Outcome:
        """Out-of-process: ``python -m runner``, the way make and nox call it."""
        env = {**os.environ, **self.env, "RUNNER_ROOT": str(self.root)}
        proc = subprocess.run(
            [sys.executable, "-m", "runner", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        return Outcome(proc.returncode, proc.stdout, proc.stderr)


@functools.cache
def _pool() -> ServerPool:
    """The one pool of this process: the report header and the fixture share it."""
    return ServerPool()


def pytest_report_header(config: pytest.Config) -> str:
    """Say, in one line, which database servers this run uses (or why not)."""
    from tests.databases import describe

    return describe(_pool())


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerPool]:
    pool = _pool()
    yield pool
    pool.close()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, servers: ServerPool, tmp_path: Path) -> Iterator[Database]:
    """A fresh empty database on each backend in turn."""
    with servers.fresh(request.param, tmp_path) as database:
        yield database


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty repository root with a projects/ folder."""
    path = tmp_path / "repo"
    (path / "projects").mkdir(parents=True)
    return path


@pytest.fixture
def run(root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return Runner(root, capsys, monkeypatch)


def load_scenario(name: str, root: Path) -> None:
    """Copy ``tests/scenarios/<name>/projects`` into ``root`` and complete each project.

    Scenario folders hold only what is particular to them (usually versions/);
    the runner's own template supplies alembic.ini, env.py and script.py.mako.
    """
    shutil.copytree(SCENARIOS / name / "projects", root / "projects", dirs_exist_ok=True)
    for folder in (root / "projects").iterdir():
        if folder.is_dir():
            projects.write_template(folder, folder.name)


# The third revision of the "two_projects" scenario's alpha: an index built without
# blocking writes, which needs an autocommit block (PostgreSQL's CONCURRENTLY).
CONCURRENT_INDEX = '''"""index without blocking writes"""

from alembic import op

revision = "a3"
down_revision = "a2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("ix_orders_note", "orders", ["note"], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_orders_note", table_name="orders", postgresql_concurrently=True)
'''


def failing_revision(revision: str, down_revision: str) -> str:
    """A revision that creates a table, then fails on a statement that cannot run."""
    return f'''"""fails halfway"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade() -> None:
    op.drop_table("half_done")
'''


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow end-to-end tests first: under pytest -n the workers then finish together
    instead of one of them running a long test at the end while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _own_secrets() -> Iterator[None]:
    """Each test starts with the passwords it registers itself: the CLI runs in-process,
    and one test's passwords (hypothesis makes many) must not mask another's output."""
    from runner.output import redact

    saved = set(redact._secrets)
    yield
    redact._secrets.clear()
    redact._secrets.update(saved)
