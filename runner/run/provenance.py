"""Who is running, from which commit and CI job: the "who" columns of the change log.

Read once per process from the environment that GitLab CI and Jenkins set
(and ``git`` for a laptop run). Nothing here may carry a secret: only
identifiers and URLs of jobs, never a variable's full environment.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Provenance:
    os_user: str
    ci_identity: str | None
    ci_job_url: str | None
    git_commit: str | None


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


_COMMIT_VARIABLES = ("CI_COMMIT_SHA", "GIT_COMMIT")  # GitLab CI, Jenkins git plugin
APPROVER_VARIABLE = "RUNNER_APPROVED_BY"


def prefetch(environ: Mapping[str, str], repo: Path, project: Path | None = None) -> None:
    """Start the ``git`` lookup :func:`read` may need, in the background.

    Outside CI the commit comes from two ``git`` processes; started early, they
    run on another core while the run connects and takes its lock.
    """
    if not _first(environ, *_COMMIT_VARIABLES):
        _lookup(repo, project)


def read(environ: Mapping[str, str], repo: Path, project: Path | None = None) -> Provenance:
    """Provenance from CI variables, falling back to the OS user and ``git rev-parse``.

    ``project`` is the project folder: an untracked file there (a revision not
    committed yet) makes the commit ``-dirty`` too, since it may be what runs.
    """
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # a container uid with no passwd entry
        os_user = str(os.getuid())
    ci_identity = None
    if environ.get("GITLAB_CI"):
        who = _first(environ, "GITLAB_USER_LOGIN", "GITLAB_USER_EMAIL")
        pipeline = _first(environ, "CI_PIPELINE_ID")
        ci_identity = f"gitlab:{who or '?'} pipeline {pipeline or '?'}"
    elif environ.get("JENKINS_URL"):
        # The person who started the build (Build User Vars plugin), a pull request's
        # author, else, on a branch build started by a push, the commit's author.
        who = _first(environ, "BUILD_USER_ID", "CHANGE_AUTHOR") or _author(
            repo, _first(environ, "GIT_COMMIT") or "HEAD"
        )
        job = _first(environ, "JOB_NAME")
        build = _first(environ, "BUILD_NUMBER")
        ci_identity = f"jenkins:{who or '?'} {job or '?'}#{build or '?'}"
    elif environ.get("CI"):
        ci_identity = "ci"
    # Who approved a gated deploy (Jenkins `input`'s submitter; GitLab's manual job is
    # already GITLAB_USER_LOGIN, the person who ran it).
    approver = _first(environ, APPROVER_VARIABLE)
    if approver and ci_identity:
        ci_identity += f" approved by {approver}"
    return Provenance(
        os_user=os_user,
        ci_identity=ci_identity,
        ci_job_url=_first(environ, "CI_JOB_URL", "BUILD_URL"),
        git_commit=_first(environ, *_COMMIT_VARIABLES) or _lookup(repo, project).result(),
    )


_lookups: dict[tuple[Path, Path | None], Future[str | None]] = {}
_lookups_lock = threading.Lock()


def _lookup(repo: Path, project: Path | None) -> Future[str | None]:
    """The (running or finished) ``git`` lookup for ``repo``: once per process."""
    with _lookups_lock:
        found = _lookups.get((repo, project))
        if found is None:
            found = _lookups[(repo, project)] = Future()
            thread = threading.Thread(target=_resolve, args=(found, repo, project), daemon=True)
            thread.start()
        return found


def _resolve(future: Future[str | None], repo: Path, project: Path | None) -> None:
    try:
        future.set_result(_git_head(repo, project))
    except BaseException as exc:  # handed to whoever waits for the result
        future.set_exception(exc)


def _git_head(repo: Path, project: Path | None) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = proc.stdout.strip()
    if proc.returncode != 0 or not commit:
        return None
    # Tracked changes anywhere, and untracked files in the project (a revision
    # that is not committed runs all the same).
    command = ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"]
    dirty = _git_output(command)
    if not dirty and project is not None:
        dirty = _git_output([*command[:-1], "--untracked-files=all", "--", str(project)])
    return commit + ("-dirty" if dirty else "")


def _author(repo: Path, commit: str) -> str | None:
    """The author's email of ``commit`` (name if there is none), from ``git log``."""
    found = _git_output(["git", "-C", str(repo), "log", "-1", "--format=%ae%n%an", commit, "--"])
    return next((line.strip() for line in found.splitlines() if line.strip()), None)


def _git_output(command: list[str]) -> str:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip()
