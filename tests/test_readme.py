"""The README's shell blocks, run top to bottom as a reader would, in a copy of the
repository: what the README says must work as written.

Comments just above a block steer it (they are part of the README, so whoever edits
a block sees them):

* ``<!-- readme-test: skip (why) -->``: the block cannot run here (it needs a login
  we do not have, or it is the suite itself);
* ``<!-- readme-test: without "CMD" (why) -->``: run the block but not its lines
  that start with CMD;
* ``<!-- readme-test: write GLOB from "LINE" -->`` above a Python block: the edit the
  text asks for, made in the one file matching GLOB, from its line LINE to the end.

Blocks that call Docker run only in the test that has the image; the others run in
both tests, so the Docker blocks meet the state the blocks before them left.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_image import engine, image  # noqa: F401 - the image, built once per session

README = REPO / "README.md"
_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|without|write)\b(.*?)-->")
_DOCKER = re.compile(r"\b(docker|dalembic)\b")
# Commands that run this suite: a block with one must steer it away (skip, without).
_SUITE = re.compile(r"^\s*(make\s+test\b|(\S*/)?nox\s+-s\s+tests\b|(\S*/)?pytest\b)")
# Left out of the copy: what a fresh clone does not have, and what is big.
_NOT_COPIED = (".git", ".venv", ".nox", "var", "build", "reports", "*.egg-info", "__pycache__",
               ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis")  # fmt: skip


@dataclass(frozen=True)
class Block:
    """One fenced block of the README, with the comment that steers it."""

    line: int  # where its fence opens (1-based)
    language: str
    code: str
    marker: str | None  # skip, without or write
    argument: str

    @property
    def uses_docker(self) -> bool:
        return bool(_DOCKER.search(self.code))


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    lines = text.splitlines()
    marker: tuple[str, str] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        steer = _MARKER.search(line)
        fence = _FENCE.match(line)
        if steer:
            marker = (steer.group(1), steer.group(2).strip())
        elif fence:
            indent, language = fence.groups()
            body: list[str] = []
            index += 1
            while not _FENCE.match(lines[index]):
                body.append(lines[index][len(indent) :])
                index += 1
            kind, argument = marker or (None, "")
            found.append(Block(index - len(body), language, "\n".join(body) + "\n", kind, argument))
            marker = None
        elif line.strip():
            marker = None  # a comment steers only the block right below it
        index += 1
    return found


def _edit(block: Block) -> str:
    """Shell lines that make the edit a ``write`` comment describes."""
    match = re.fullmatch(r'(\S+)\s+from\s+"([^"]+)"', block.argument)
    assert match, f'README line {block.line}: write GLOB from "LINE", not {block.argument!r}'
    pattern, start = match.groups()
    script = (
        "import glob, sys\n"
        "[path] = glob.glob(sys.argv[1])\n"
        "text = open(path).read()\n"
        "head = text[: text.index(sys.argv[2])]\n"
        "open(path, 'w').write(head + sys.argv[3])\n"
    )
    args = [sys.executable, "-c", script, pattern, start, block.code]
    return shlex.join(args) + "\n"


def script(readme: str, docker: bool) -> str:
    """One bash script of the blocks to run, each announced (a failure says where)."""
    parts = ["set -euo pipefail", "shopt -s expand_aliases"]
    after_docker = False  # an edit belongs to the flow of the shell block before it
    for block in blocks(readme):
        if block.language == "python" and block.marker == "write":
            if docker or not after_docker:
                parts.append(f"echo 'README line {block.line}: the edit' >&2")
                parts.append(_edit(block))
            continue
        if block.language not in {"sh", "bash"}:
            continue
        after_docker = block.uses_docker
        if block.marker == "skip" or (block.uses_docker and not docker):
            continue
        code = block.code
        if block.marker == "without":
            command = block.argument.split('"')[1]
            code = "".join(
                line
                for line in code.splitlines(keepends=True)
                if not line.lstrip().startswith(command)
            )
        suite = [line for line in code.splitlines() if _SUITE.match(line)]
        assert not suite, f"README line {block.line} runs the suite inside itself: {suite[0]}"
        parts.append(f"echo 'README line {block.line}' >&2")
        parts.append(code)
    return "\n".join(parts)


def clone(tmp_path: Path) -> Path:
    """The repository as a fresh clone has it, its .venv borrowed (installed once)."""
    if os.environ.get("DOCKER_ALEMBIC_README_RUN"):  # a README block ran the suite: never recurse
        pytest.skip("inside a README run")
    if not (REPO / ".venv" / ".installed").is_file():
        if os.environ.get("CI"):
            pytest.fail("CI bootstraps .venv with `make upgrade PROJECT=example` first")
        pytest.skip("no .venv yet: run `make bootstrap`")
    copy = tmp_path / "clone"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(*_NOT_COPIED), symlinks=True)
    (copy / ".venv").symlink_to(REPO / ".venv")
    return copy


def run(copy: Path, text: str) -> subprocess.CompletedProcess[str]:
    # A reader's shell: none of the suite's settings, no database URL of any project.
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("RUNNER_", "PYTEST_")) and not k.endswith(("_DATABASE_URL",
                                                                           "_DATABASE_URL_FILE"))
    }  # fmt: skip
    env["NO_COLOR"] = "1"
    env["DOCKER_ALEMBIC_README_RUN"] = "1"  # clone() skips in a nested run
    return subprocess.run(["bash"], input=text, cwd=copy, env=env, capture_output=True,
                          text=True, timeout=900, check=False)  # fmt: skip


def _check(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, (
        f"a README block failed (exit {done.returncode}); the last 'README line' on stderr"
        f" names it\nstdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    )


def test_the_steering_comments_are_well_formed() -> None:
    text = README.read_text()
    steered = [b for b in blocks(text) if b.marker]
    assert steered, "the README has steering comments"
    for block in steered:
        if block.marker in {"skip", "without"}:
            assert re.search(r"\(.+\)", block.argument), f"line {block.line}: say why"
        if block.marker == "without":
            assert block.argument.count('"') == 2, f'line {block.line}: without "CMD" (why)'
    comments = re.findall(r"^\s*<!--\s*readme-test:", text, re.MULTILINE)
    assert len(comments) == len(steered), "a comment steers no block"


@pytest.mark.slow
def test_the_readme_shell_blocks_work_as_written(tmp_path: Path) -> None:
    copy = clone(tmp_path)
    done = run(copy, script(README.read_text(), docker=False))
    _check(done)
    # What the quickstart promised: the projects it made, at the revisions it said.
    assert (copy / "var" / "example.sqlite").is_file()
    assert (copy / "projects" / "demo" / "alembic.ini").is_file()
    assert "PROJECT  STATE" in done.stdout
    assert "internal error" not in done.stderr


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.xdist_group("docker-image")
def test_the_readme_docker_blocks_work_as_written(tmp_path: Path, image: str) -> None:  # noqa: F811
    copy = clone(tmp_path)
    text = README.read_text().replace("docker-alembic:dev", image)
    done = run(copy, script(text, docker=True))
    _check(done)
    assert "hello|world" in done.stdout
    assert (copy / "projects" / "shop" / "alembic.ini").is_file()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_every_make_target_in_make_help_is_in_the_readme() -> None:
    shown = subprocess.run(["make", "-s", "-C", str(REPO), "help"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    targets = re.findall(r"^  ([a-z][a-z-]*)\s{2,}", shown, re.MULTILINE)
    assert "upgrade" in targets
    text = README.read_text()
    missing = [t for t in targets if f"make {t}" not in text]
    assert not missing, f"make help lists targets the README does not: {missing}"
