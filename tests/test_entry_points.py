"""make, nox and the docs reach the same verbs; every module imports on its own."""

from __future__ import annotations

import doctest
import importlib
import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import runner
from runner.cli import cli

REPO = Path(__file__).parent.parent
VERBS = sorted(cli.commands)
# runner.__main__ runs the CLI on import, by design.
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(runner.__path__, "runner.") if m.name != "runner.__main__"
)

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@needs_make
@pytest.mark.parametrize("target", ["upgrade", "downgrade", "plan", "revision", "history"])
def test_make_without_project_names_the_variable(target: str) -> None:
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO), target], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "PROJECT is not set" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@needs_make
def test_make_downgrade_without_rev_names_the_variable() -> None:
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO), "downgrade", "PROJECT=example"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "REV is not set" in proc.stderr


@needs_make
def test_make_help_lists_every_verb() -> None:
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO), "help"], capture_output=True, text=True, check=True
    )
    targets = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ")}
    # `make lint` and `make test` check this repository's own code; the verbs that
    # review and round-trip a database project have targets of their own.
    renamed = {"lint": "lint-revisions", "test": "roundtrip"}
    wanted = {renamed.get(verb, verb) for verb in VERBS}
    assert wanted <= targets, wanted - targets
    assert {"test", "lint"} <= targets


def test_readme_documents_every_verb_and_exit_code() -> None:
    readme = (REPO / "README.md").read_text()
    for verb in VERBS:
        assert f"runner {verb}" in readme or f"make {verb}" in readme, verb
    for code in ("0", "1", "2", "3", "130"):
        assert f"| {code} " in readme, code


def test_nox_lists_the_documented_sessions() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-l", "-f", str(REPO / "noxfile.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    for session in ("tests", "lint", "migrate", "upgrade(example)"):
        assert f" {session} " in proc.stdout, proc.stdout


# Imports each module named on stdin in a forked child of a process that has loaded
# the third-party libraries but no runner module: every child starts from an
# interpreter without runner in it, which is what the check is about, without
# paying for SQLAlchemy and Alembic again per module.
_IMPORT_EACH = """
import json, os, sys, traceback
import alembic.command, alembic.config, click, sqlalchemy, sqlglot, sqlparse
assert not [m for m in sys.modules if m == "runner" or m.startswith("runner.")]
results = {}
for name in sys.stdin.read().split():
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            __import__(name)
            message = ""
        except BaseException:
            message = traceback.format_exc()
        os.write(writer, message.encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        results[name] = pipe.read().decode()
    os.waitpid(pid, 0)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def imported_alone() -> dict[str, str]:
    """Module name -> traceback of importing it alone ("" when it imported)."""
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH], input="\n".join(MODULES), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    results: dict[str, str] = json.loads(proc.stdout)
    return results


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module: str, imported_alone: dict[str, str]) -> None:
    """Each module imports in an interpreter without runner (no hidden import-order cycles)."""
    assert imported_alone[module] == ""


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    failures, _ = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert failures == 0
