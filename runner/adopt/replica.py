"""A replica: the project's revisions up to a target's current revision, applied on a
throw-away database of the target's dialect (:mod:`runner.db.scratch`), reflected.

What the migrations say the schema is. Nothing is written to the target; the
replica is dropped when the catalog is taken. The server for it is the one
``runner test`` uses: ``--server-url``, else ``RUNNER_TEST_POSTGRES_URL`` /
``RUNNER_TEST_MYSQL_URL``, else a testcontainers container; SQLite needs none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner.adopt.catalog import Catalog, reflect
from runner.db import scratch
from runner.db.target import Target
from runner.project.environment import ProjectEnv
from runner.project.objects import Scope
from runner.run.envpass import StepsFn, run_env
from runner.run.session import open_connection


def replica_catalog(
    penv: ProjectEnv, revisions: Sequence[str], scope: Scope, server_url: str | None = None
) -> Catalog:
    """The catalog a database at ``revisions`` has according to the migrations."""
    kind = penv.target.backend.name
    with (
        scratch.scratch_server(kind, server_url) as server,
        server.database("dalembic_drift_") as url,
    ):
        replica = penv.pointed_at(Target(url, "throw-away replica", session=penv.target.session))
        with open_connection(replica) as connection:
            for head in revisions:
                with connection.begin():
                    run_env(replica, _steps_to(replica, head), connection, destination_rev=head)
            with connection.begin():
                return reflect(connection, scope)


def _steps_to(penv: ProjectEnv, head: str) -> StepsFn:
    def steps(current: Any, _context: Any) -> Sequence[Any]:
        return penv.upgrade_steps(head, current)

    return steps
