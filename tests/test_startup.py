"""Start-up: a small job loads only what it uses (issue #18).

Every run of the runner is a new process, and for a short upgrade or a status its
imports are most of the time it takes. These tests run the real CLI in a subprocess
and read which modules it had loaded when it exited: a module that the command does
not need (another database's dialect, the process pool without --jobs, the lint
parsers) must not be among them. How long anything takes is measured in
benchmarks/, not here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.project import repository as projects
from tests.conftest import Runner
from tests.databases import Database

# Runs the CLI like ``python -m runner``, then writes the loaded modules' names to the
# file named by its first argument, whatever way the command exits.
_WRAPPER = """
import sys
from pathlib import Path

out = Path(sys.argv[1])
try:
    from runner.cli import main

    main(sys.argv[2:])
finally:
    out.write_text("\\n".join(sorted(sys.modules)))
"""

REVISION = '''"""step {n}"""

import sqlalchemy as sa
from alembic import op

revision = "r{n}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("t{n}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("t{n}")
'''

# Never needed by a single-target run without --jobs, on any database.
NEVER = (
    "multiprocessing",
    "concurrent.futures.process",
    "sqlglot",
    "sqlparse",
    "runner.lint",
    "runner.adopt",
    "runner.roundtrip",
    "runner.db.scratch",
    "runner.output.tool_results",
    "runner.output.live_results",
    "runner.output.log_results",
    "runner.run.live",
    "sqlalchemy.dialects.mssql",
    "sqlalchemy.dialects.oracle",
)
# Modules of one database only: a run on another must not load them (Alembic itself
# imports SQLAlchemy's PostgreSQL and SQLite dialects, so only their drivers count).
ONLY_ON = {
    "sqlite": ("_sqlite3",),
    "postgresql": ("psycopg",),
    "mysql": ("pymysql", "sqlalchemy.dialects.mysql"),
}


def _project(root: Path) -> None:
    (root / "projects").mkdir(parents=True)
    project = projects.create(root, "alpha")
    for n in (1, 2, 3):
        down = "None" if n == 1 else f'"r{n - 1}"'
        (project.path / "versions" / f"r{n}_step.py").write_text(REVISION.format(n=n, down=down))


def loaded(root: Path, url: str, *argv: str) -> set[str]:
    """The modules ``runner <argv>`` had imported when it exited (it must exit 0)."""
    out = root / "modules.txt"
    env = {**os.environ, "ALPHA_DATABASE_URL": url}
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(out), "--root", str(root), *argv],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return set(out.read_text().splitlines())


def _within(modules: set[str], packages: tuple[str, ...]) -> set[str]:
    """The loaded modules that are one of ``packages`` or inside one."""
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


def _not_needed(backend: str) -> tuple[str, ...]:
    others = (m for name, only in ONLY_ON.items() if name != backend for m in only)
    return (*NEVER, *others)


@pytest.mark.parametrize("verb", ["upgrade", "status", "current"])
def test_a_small_job_loads_only_what_it_uses(verb: str, db: Database, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _project(root)
    if verb != "upgrade":  # a status of a database that has a change log, as in CI
        loaded(root, db.url_string, "upgrade", "alpha")
    modules = loaded(root, db.url_string, verb, "alpha")
    assert "alembic" in modules  # the command did run
    assert _within(modules, _not_needed(db.backend)) == set()
    if verb != "current":  # the history verbs' results are built only for them
        assert "runner.output.inspect_results" not in modules


def test_help_loads_neither_alembic_nor_sqlalchemy(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _project(root)
    modules = loaded(root, "sqlite://", "--help")
    assert "click" in modules
    assert _within(modules, ("alembic", "sqlalchemy", *NEVER)) == set()


def test_every_text_renderer_names_a_result_class() -> None:
    """render looks renderers up by class name (so start-up imports no verb's results it
    does not print): a misspelt or renamed class would only fail when that verb prints."""
    import dataclasses
    import importlib

    from runner.output import render

    classes: dict[str, type] = {}
    for name in ("results", "inspect_results", "live_results", "log_results", "tool_results"):
        module = importlib.import_module(f"runner.output.{name}")
        for value in vars(module).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value):
                assert value.__name__ not in classes or classes[value.__name__] is value
                classes[value.__name__] = value
    assert set(render._RENDERERS) <= set(classes)
    verbs = {name for name in classes if name.endswith("Result")} | {"CreatedFiles", "ProjectInfo"}
    assert verbs <= set(render._RENDERERS), verbs - set(render._RENDERERS)


def test_reading_commands_never_ask_git_who_is_running(run: Runner, root: Path) -> None:
    """Outside CI a write asks git for the commit it records; status, verify and log only
    read the change log, so they must not pay for two git processes (on a large checkout,
    ``git status`` alone takes seconds)."""
    import shutil

    real = shutil.which("git")
    assert real is not None
    calls = root.parent / "git-calls.txt"
    fake = root.parent / "fakebin"
    fake.mkdir()
    (fake / "git").write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexec "{real}" "$@"\n')
    (fake / "git").chmod(0o755)
    projects.create(root, "p")
    run.env.update({"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"})
    for variable in ("CI_COMMIT_SHA", "GIT_COMMIT"):
        run.env[variable] = ""
    run.subprocess("upgrade", "p")  # the database exists, with its change log
    assert "rev-parse" in calls.read_text()  # the fake is really on the path: a write asks it
    calls.unlink()
    for verb in ("status", "verify", "log"):
        run.subprocess(verb, "p")
        assert not calls.exists(), f"{verb} ran git: {calls.read_text()}"


_THRESHOLD = """
import gc, sys
from runner import cli
before = gc.get_threshold()
try:
    cli.main(sys.argv[1:] if sys.argv[1:] == ["--version"] else None)
except SystemExit:
    pass
print(before[0], gc.get_threshold()[0])
"""


@pytest.mark.parametrize("own", [True, False])
def test_the_collector_runs_less_often_only_in_a_process_of_its_own(own: bool) -> None:
    """``runner`` (main() without arguments) owns its process and collects less often; a
    program calling ``main(args)`` keeps its own collector settings."""
    args = ["--help"] if own else ["--version"]
    proc = subprocess.run([sys.executable, "-c", _THRESHOLD, *args], capture_output=True,
                          text=True, check=True)  # fmt: skip
    before, after = map(int, proc.stdout.split()[-2:])
    assert (after > before) if own else (after == before), proc.stdout
