"""Checkouts older than the database: the two ways a pipeline of an older commit meets a
database that a newer one already deployed, both refused (exit 4) with one line.

* The database is at a revision this checkout does not have (another merge to the
  project was deployed since this branch forked): nothing here can plan from there.
* The newest deploy recorded in the change log ran from a commit that already contains
  this one (``git merge-base --is-ancestor``): this is an older pipeline running late.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from runner.errors import Refused
from runner.output.results import Direction
from runner.project.environment import ProjectEnv
from runner.project.revisions import is_known
from runner.run import provenance
from runner.run.changelog import ChangeLog, LogEntry


def default_branch(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("CI_DEFAULT_BRANCH", "").strip() or "main"


def unknown(script: ScriptDirectory, current: Sequence[str]) -> list[str]:
    """The revisions of ``current`` that this checkout has no file for."""
    return [rev for rev in current if not is_known(script, rev)]


def ahead(project: str, target: str | None, revisions: Sequence[str]) -> Refused:
    """The one line for a database at a revision this checkout lacks."""
    where = f"target {target}" if target else "the database"
    return Refused(
        f"the database is ahead of this branch: {where} is at revision"
        f" {', '.join(revisions)}, which this checkout does not have (a newer change to"
        f" {project} was deployed): rebase or merge {default_branch()} (if the revision was"
        f" removed on purpose, record where the database is: runner stamp {project} REV"
        " --purge)",
        project=project,
    )


def newest_deploy(log_: ChangeLog, connection: Connection) -> LogEntry | None:
    """The newest successful row that records a commit: the last run that changed the
    database (a run with nothing to do writes no row). One query, not the whole log."""
    c = log_.table.c
    return log_.newest(connection, c.success.is_(True), c.git_commit != "",
                       c.direction != str(Direction.LOG_CREATED))  # fmt: skip


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    """``older`` is a strict ancestor of ``newer`` in ``repo``; False when git cannot tell
    (a commit this clone does not have, no git)."""
    if older == newer:
        return False
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def refuse_older(project: str, target: str | None, repo: Path, commit: str | None,
                 newest: LogEntry | None) -> None:  # fmt: skip
    """Refuse a write from ``commit`` when the newest deploy (``newest``) ran from a
    descendant of it."""
    if not commit or commit.endswith("-dirty"):
        return  # a laptop's work in progress: not a pipeline's commit
    if newest is None:
        return
    theirs = newest.git_commit.removesuffix("-dirty")
    if not is_ancestor(repo, commit, theirs):
        return
    where = f"target {target}" if target else "the database"
    who = f" by {newest.ci_identity}" if newest.ci_identity else ""
    raise Refused(
        f"a newer deploy already ran: {where} was last changed from commit {theirs[:12]}"
        f"{who} at {newest.finished_at:%Y-%m-%d %H:%M} UTC, which contains this commit"
        f" {commit[:12]}; this older pipeline's deploy is refused, nothing was changed (run the"
        " newest pipeline instead)",
        project=project,
    )


def check_write(penv: ProjectEnv, connection: Connection, log_: ChangeLog,
                current: Sequence[str]) -> None:  # fmt: skip
    """Under the lock, before an upgrade: refuse a database ahead of this checkout, and
    a checkout older than the one the newest deploy ran from."""
    missing = unknown(penv.script, current)
    if missing:
        raise ahead(penv.name, penv.target.name, missing)
    commit = provenance.read(os.environ, penv.project.root, penv.project.path).git_commit
    refuse_older(penv.name, penv.target.name, penv.project.root, commit,
                 newest_deploy(log_, connection))  # fmt: skip
