"""The projects a change touches: what a pipeline lints, tests, plans and deploys.

Rules, from ``git diff --name-only BASE...HEAD`` (what HEAD changed since it forked
from BASE):

- a file under ``projects/<name>/`` selects project ``<name>`` if that folder still
  is a project (a legal name and an ``alembic.ini``); a deleted project is not selected;
- a change to the runner or to how CI runs it (``runner/``, ``pyproject.toml``,
  ``docker/``, ``ci/``, ``.gitlab-ci.yml``, ``Jenkinsfile``) selects every project;
- no base (the default branch) selects every project, and so does a base git cannot
  resolve (shallow clone, ref not fetched): when the change cannot be computed,
  everything is checked, never nothing.

Standard library and git only: the generator job needs no database driver.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ConfigError
from runner.project.repository import INI_NAME, PROJECTS_DIR, validate_name

# Paths whose change can alter how every project behaves in CI.
RUNNER_PATHS = ("runner/", "pyproject.toml", "docker/", "ci/", ".gitlab-ci.yml", "Jenkinsfile")


@dataclass(frozen=True)
class Selection:
    """The projects to check and why."""

    projects: list[str]
    reason: str


class GitError(Exception):
    """git could not answer (not a repository, unknown ref, no git)."""


def discover(root: Path) -> list[str]:
    """Every project under ``root/projects``, sorted."""
    folder = root / PROJECTS_DIR
    if not folder.is_dir():
        return []
    return sorted(
        child.name
        for child in folder.iterdir()
        if child.is_dir() and _legal(child.name) and (child / INI_NAME).is_file()
    )


def _legal(name: str) -> bool:
    try:
        validate_name(name)
    except ConfigError:
        return False
    return True


def default_base(environ: Mapping[str, str]) -> str | None:
    """The base a CI system gives a change: GitLab's merge-request diff base, Jenkins'
    pull-request target branch; None on a branch build (every project)."""
    if environ.get("CI_MERGE_REQUEST_DIFF_BASE_SHA"):
        return environ["CI_MERGE_REQUEST_DIFF_BASE_SHA"]
    if environ.get("CHANGE_TARGET"):
        return f"origin/{environ['CHANGE_TARGET']}"
    return None


def changed_files(root: Path, base: str, head: str = "HEAD") -> list[str]:
    """Paths (relative to ``root``) that ``head`` changed since its merge base with ``base``."""
    git = ["git", "-C", str(root), "-c", f"safe.directory={root.resolve()}"]
    for ref in (base, head):
        _git([*git, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"])
    out = _git([*git, "diff", "--name-only", "--relative", "-z", f"{base}...{head}"])
    return [path for path in out.split("\0") if path]


def select(root: Path, base: str | None, head: str = "HEAD") -> Selection:
    """Apply the module's rules."""
    every = discover(root)
    if not base:
        return Selection(every, "no base revision (default branch): every project")
    try:
        files = changed_files(root, base, head)
    except GitError as exc:
        return Selection(every, f"cannot diff against {base!r} ({exc}): every project")
    runner_changes = sorted({p for p in files if p.startswith(RUNNER_PATHS)})
    if runner_changes:
        shown = ", ".join(runner_changes[:3]) + (" ..." if len(runner_changes) > 3 else "")
        return Selection(every, f"the runner or CI changed ({shown}): every project")
    touched = {
        parts[1]
        for parts in (path.split("/") for path in files)
        if len(parts) > 2 and parts[0] == PROJECTS_DIR
    }
    existing = set(every)
    gone = sorted(touched - existing)
    selected = sorted(touched & existing)
    reason = f"changed since {base}: {', '.join(selected) or 'no project'}"
    if gone:
        reason += f" (removed or not a project: {', '.join(gone)})"
    return Selection(selected, reason)


def _git(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror}") from exc
    if proc.returncode != 0:
        message = proc.stderr.strip().splitlines()
        raise GitError(message[-1] if message else f"{' '.join(argv[4:6])} failed")
    return proc.stdout
