"""The runner's verbs as plain functions: take a :class:`ProjectEnv`, return a result.

Nothing here prints or parses arguments; :mod:`runner.cli` does that. Every
database-touching command opens one connection, runs env.py inside one
transaction that we own (so SQLite and PostgreSQL roll a failed upgrade back
whole), and reports where the database stands afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.script import Script
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from runner.database import connect, create_target_engine
from runner.environment import ProjectEnv
from runner.errors import MigrationFailed, RevisionProblem
from runner.results import (
    HistoryResult,
    MigrateResult,
    PlanResult,
    ProjectInfo,
    RevisionInfo,
    StatusResult,
)

log = logging.getLogger("runner")


# --- helpers -----------------------------------------------------------------


def revision_info(penv: ProjectEnv, script: Script) -> RevisionInfo:
    """Describe one revision for output."""
    down = script.down_revision
    downs = [] if down is None else [down] if isinstance(down, str) else list(down)
    path = Path(script.path)
    try:
        shown = str(path.resolve().relative_to(penv.project.path.resolve()))
    except ValueError:
        shown = str(path)
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
def open_connection(penv: ProjectEnv) -> Iterator[Connection]:
    """One connection to the project's target for the duration of a command."""
    sqlite_path = penv.target.sqlite_path
    if penv.target.embedded and sqlite_path is not None and not sqlite_path.exists():
        log.info(
            "%s: no database URL configured; creating embedded SQLite database %s"
            " (set %s_DATABASE_URL to use another database)",
            penv.name,
            sqlite_path,
            penv.name.upper().replace("-", "_"),
        )
    engine = create_target_engine(penv.project, penv.target)
    try:
        connection = connect(penv.project, penv.target, engine)
        try:
            yield connection
        finally:
            connection.close()
    finally:
        engine.dispose()


def _database_missing(penv: ProjectEnv) -> bool:
    """True for an embedded SQLite file not created yet: read commands then see base."""
    path = penv.target.sqlite_path
    return path is not None and not path.exists()


def read_current(penv: ProjectEnv, connection: Connection) -> tuple[tuple[str, ...], str | None]:
    """Current revision(s) and version table, read through the project's env.py."""
    with connection.begin():
        run = penv.run(lambda _rev, _ctx: [], connection, dont_mutate=True)
    return run.current, run.version_table


def _require_single_head(penv: ProjectEnv, verb: str) -> None:
    heads = penv.heads()
    if len(heads) > 1:
        raise RevisionProblem(
            f"{penv.name}: {len(heads)} heads ({', '.join(heads)}): {verb} needs one; "
            "merge them (alembic merge) or name a target: 'heads' for all, or one of the ids"
        )


def _migrate(penv: ProjectEnv, action: str, steps_fn: Any, **context_kw: Any) -> MigrateResult:
    """Run env.py with ``steps_fn`` in one transaction and report before/after.

    On failure the transaction is rolled back (a no-op for MySQL's DDL, which
    commits itself), and the error says where the database now stands.
    """
    with open_connection(penv) as connection:
        try:
            with connection.begin():
                run = penv.run(steps_fn, connection, **context_kw)
        except MigrationFailed as exc:
            current, _ = read_current(penv, connection)
            raise MigrationFailed(f"{exc}; database is at {describe_revs(current)}") from exc
        after, _ = read_current(penv, connection)
    steps = [
        revision_info(penv, step.revision) for step in run.planned if hasattr(step, "revision")
    ]
    return MigrateResult(
        project=penv.name,
        url=penv.target.display,
        action=action,
        before=list(run.current),
        after=list(after),
        steps=steps,
    )


# --- read commands -----------------------------------------------------------


def describe_project(penv: ProjectEnv) -> ProjectInfo:
    """``list``: a project's URL and history shape, without touching the database."""
    return ProjectInfo(
        project=penv.name,
        path=str(penv.project.path),
        url=penv.target.display,
        url_source=penv.target.source,
        revisions=len(list(penv.script.walk_revisions())),
        heads=list(penv.heads()),
    )


def history(penv: ProjectEnv) -> HistoryResult:
    """``history``: every revision, newest first."""
    return HistoryResult(
        penv.name, [revision_info(penv, script) for script in penv.script.walk_revisions()]
    )


def heads(penv: ProjectEnv) -> HistoryResult:
    """``heads``: the head revisions."""
    return HistoryResult(penv.name, [revision_info(penv, penv.revision(h)) for h in penv.heads()])


def status(penv: ProjectEnv) -> StatusResult:
    """``status``: current revision(s), heads, and what an upgrade to heads would apply."""
    heads_ = list(penv.heads())
    version_table = None
    if _database_missing(penv):
        current: tuple[str, ...] = ()
    else:
        with open_connection(penv) as connection:
            current, version_table = read_current(penv, connection)
    problem = None
    try:
        pending = [step.revision.revision for step in penv.upgrade_steps("heads", current)]
    except (RevisionError, CommandError) as exc:
        pending = []
        problem = (
            f"database revision {describe_revs(current)} is not reachable in this repository"
            f" ({' '.join(str(exc).split())})"
        )
    return StatusResult(
        project=penv.name,
        url=penv.target.display,
        url_source=penv.target.source,
        version_table=version_table,
        current=list(current),
        heads=heads_,
        pending=pending,
        up_to_date=not pending and problem is None,
        problem=problem,
    )


def plan(penv: ProjectEnv) -> PlanResult:
    """``plan``: offline SQL from the database's current revision(s) to the heads.

    Alembic needs ``start:end`` for offline SQL; we read ``start`` from the
    database (read-only) so the reviewer sees exactly what the next upgrade runs.
    """
    if _database_missing(penv):
        current: tuple[str, ...] = ()
    else:
        with open_connection(penv) as connection:
            current, _ = read_current(penv, connection)
    try:
        steps = list(penv.upgrade_steps("heads", current))
    except (RevisionError, CommandError) as exc:
        raise RevisionProblem(
            f"{penv.name}: database revision {describe_revs(current)} is not reachable"
            f" in this repository: {' '.join(str(exc).split())}"
        ) from exc
    sql = ""
    if steps:
        run = penv.run(
            lambda rev, _ctx: penv.upgrade_steps("heads", rev),
            None,
            as_sql=True,
            starting_rev=current or None,
            destination_rev="heads",
        )
        sql = run.sql
    return PlanResult(
        project=penv.name,
        url=penv.target.display,
        dialect=penv.target.url.get_backend_name(),
        before=list(current),
        after=list(penv.heads()) if steps else list(current),
        revisions=[revision_info(penv, step.revision) for step in steps],
        sql=sql,
    )


# --- writing commands --------------------------------------------------------


def upgrade(penv: ProjectEnv, revision: str = "head") -> MigrateResult:
    """``upgrade``: apply revisions up to ``revision`` (default: the single head)."""
    if revision == "head":
        _require_single_head(penv, "upgrade to 'head'")
    return _migrate(
        penv,
        "upgrade",
        lambda rev, _ctx: penv.upgrade_steps(revision, rev),
        destination_rev=revision,
    )


def downgrade(penv: ProjectEnv, revision: str) -> MigrateResult:
    """``downgrade``: revert to ``revision`` (an id, ``-N`` or ``base``)."""
    return _migrate(
        penv,
        "downgrade",
        lambda rev, _ctx: penv.downgrade_steps(revision, rev),
        destination_rev=revision,
    )


def stamp(penv: ProjectEnv, revisions: Sequence[str], purge: bool = False) -> MigrateResult:
    """``stamp``: set the version table to ``revisions`` without running anything."""
    for rev in revisions:
        if rev not in {"base", "head", "heads"}:
            penv.revision(rev)  # unknown ids fail here, before any connection
    destination = tuple(revisions)
    return _migrate(
        penv,
        "stamp",
        lambda rev, _ctx: penv.stamp_steps(destination, rev),
        destination_rev=destination,
        purge=purge,
    )
