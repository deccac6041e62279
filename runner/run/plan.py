"""What the next upgrade of a database would run: its steps and their exact SQL."""

from __future__ import annotations

from typing import Any

from alembic.script.revision import RevisionError
from alembic.util import CommandError

from runner.errors import MigrationFailed, RevisionProblem
from runner.output.results import describe_revs
from runner.project.environment import ProjectEnv
from runner.run import capture
from runner.run.envpass import render


def pending_sql(penv: ProjectEnv, current: tuple[str, ...]) -> tuple[list[Any], str]:
    """Steps from ``current`` to the heads, and the SQL they run.

    Alembic needs ``start:end`` for offline SQL; callers read ``start`` from the
    database, so the SQL is what the next upgrade of *that* database runs.
    Where offline mode cannot render every operation (SQLite's batch mode), the
    upgrade runs on a throw-away copy of the database and its statements are
    recorded instead.
    """
    try:
        steps = list(penv.upgrade_steps("heads", current))
    except (RevisionError, CommandError) as exc:
        raise RevisionProblem(
            f"database revision {describe_revs(current)} is not reachable in this repository:"
            f" {' '.join(str(exc).split())}",
            project=penv.name,
        ) from exc
    if not steps:
        return [], ""
    if not penv.target.backend.renders_offline:
        source = penv.target.file_path
        try:
            return steps, capture.upgrade_sql(penv, source if current else None)
        except MigrationFailed as exc:
            raise MigrationFailed(f"{exc.message} (on a throw-away copy: the real upgrade would"
                                  " fail the same way; nothing was changed)",
                                  project=exc.project) from exc  # fmt: skip
    rendering = render(penv, current)
    if rendering.error is not None:
        raise rendering.error
    return steps, rendering.sql
