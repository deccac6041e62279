#!/usr/bin/env python3
"""Print the projects a change touches, one name per line: what CI lints, tests and plans.

    python ci/changed_projects.py --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA"   # a merge request
    python ci/changed_projects.py --base origin/main                        # any branch
    python ci/changed_projects.py                                           # default branch
    python ci/changed_projects.py --all

Rules, from ``git diff --name-only BASE...HEAD`` (what HEAD changed since it
forked from BASE):

- a file under ``projects/<name>/`` selects project ``<name>`` if that folder
  still is a project (a legal name and an ``alembic.ini``, the runner's own rule);
  a project the change deletes is not printed;
- a change to the runner or to how CI runs it (``runner/``, ``pyproject.toml``,
  ``docker/``, ``ci/``, ``.gitlab-ci.yml``, ``Jenkinsfile``) selects every project;
- no ``--base`` (or an empty one: the default branch) selects every project, and
  so does a base git cannot resolve (shallow clone, ref not fetched): when the
  change cannot be computed, everything is checked, never nothing.

Why the selection was made goes to stderr; stdout holds only names. Exit 0,
also when nothing is selected (an empty stdout); 2 on a usage error. Standard
library only, so any image with python3 (3.10+) and git runs it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECTS_DIR = "projects"
# Same rule as runner.project.repository: a folder with a legal name holding an alembic.ini.
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
INI_NAME = "alembic.ini"
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
        if child.is_dir() and NAME_RE.fullmatch(child.name) and (child / INI_NAME).is_file()
    )


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Print the projects a change touches, one per line.",
    )
    parser.add_argument(
        "--base",
        metavar="REF",
        default=None,
        help="Compare HEAD with its merge base with REF; empty or absent: every project.",
    )
    parser.add_argument("--head", metavar="REF", default="HEAD", help="Default: HEAD.")
    parser.add_argument("--all", action="store_true", help="Every project, whatever changed.")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(),
        help="Repository root holding projects/ (default: the current directory).",
    )
    args = parser.parse_args(argv)
    if not (args.root / PROJECTS_DIR).is_dir():
        parser.error(f"no {PROJECTS_DIR}/ folder under {args.root}")
    if args.all:
        selection = Selection(discover(args.root), "--all: every project")
    else:
        selection = select(args.root, args.base, args.head)
    print(f"changed_projects: {selection.reason}", file=sys.stderr)
    for name in selection.projects:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
