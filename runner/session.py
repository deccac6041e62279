"""Connections and reads shared by every command (no writes here)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from alembic.script import Script
from sqlalchemy.engine import Connection

from runner.database import connect, create_target_engine
from runner.environment import EnvRun, ProjectEnv
from runner.locking import DEFAULT_TIMEOUT as DEFAULT_LOCK_TIMEOUT
from runner.projects import env_stem
from runner.results import RevisionInfo

log = logging.getLogger("runner")


def revision_info(penv: ProjectEnv, script: Script) -> RevisionInfo:
    """Describe one revision for output (built once per revision per run)."""
    info = penv.infos.get(script.revision)
    if info is None:
        info = penv.infos[script.revision] = _describe(penv, script)
    return info


def _describe(penv: ProjectEnv, script: Script) -> RevisionInfo:
    down = script.down_revision
    downs = [] if down is None else [down] if isinstance(down, str) else list(down)
    # String arithmetic, no filesystem calls: the usual case is a plain prefix.
    root = os.path.join(penv.project.path, "")
    if script.path.startswith(root):
        shown = script.path[len(root) :]
    else:
        shown = os.path.relpath(script.path, penv.project.path)
        if shown.startswith(".."):
            shown = str(script.path)
    return RevisionInfo(
        revision=script.revision,
        down_revisions=downs,
        message=(script.doc or "").strip(),
        path=shown,
        branch_labels=sorted(script.branch_labels),
        is_head=script.is_head,
        is_merge=script.is_merge_point,
    )


def describe_revs(revs: Sequence[str]) -> str:
    """``base`` for an empty tuple, else the ids joined: for messages."""
    return ", ".join(revs) if revs else "base"


@contextmanager
def open_connection(
    penv: ProjectEnv, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> Iterator[Connection]:
    """One connection to the project's target for the duration of a command."""
    sqlite_path = penv.target.sqlite_path
    if penv.target.embedded and sqlite_path is not None and not sqlite_path.exists():
        log.info(
            "%s: no database URL configured; creating embedded SQLite database %s"
            " (set %s_DATABASE_URL to use another database)",
            penv.name,
            sqlite_path,
            env_stem(penv.name),
        )
    engine = create_target_engine(penv.project, penv.target, lock_timeout)
    try:
        connection = connect(penv.project, penv.target, engine)
        try:
            yield connection
        finally:
            connection.close()
    finally:
        engine.dispose()


def database_missing(penv: ProjectEnv) -> bool:
    """True for an embedded SQLite file not created yet: read commands then see base."""
    path = penv.target.sqlite_path
    return path is not None and not path.exists()


def read_current(penv: ProjectEnv, connection: Connection) -> tuple[tuple[str, ...], str | None]:
    """Current revision(s) and version table, read through the project's env.py."""
    run = read_env(penv, connection)
    return run.current, run.version_table


def read_env(penv: ProjectEnv, connection: Connection) -> EnvRun:
    """One read-only pass through env.py: current revisions, version table and schema.

    Runs in its own transaction unless the caller already holds one.
    """
    if connection.in_transaction():
        return penv.run(lambda _rev, _ctx: [], connection, dont_mutate=True)
    with connection.begin():
        return penv.run(lambda _rev, _ctx: [], connection, dont_mutate=True)
