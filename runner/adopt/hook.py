"""After every successful write: the schema's fingerprint into the change log.

:func:`after_write` is the one call the write path makes into this package
(:func:`runner.run.write.run_write`, still holding the project's lock). A
fingerprint that cannot be taken or recorded never fails the write that
succeeded: it is a warning, and ``drift --quick`` compares with a replica until
the next write records one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from runner.adopt.catalog import Scope
from runner.adopt.fingerprint import fingerprint, record
from runner.errors import RunnerError
from runner.project import targets as declared
from runner.project.environment import ProjectEnv
from runner.run.changelog import ChangeLog

log = logging.getLogger("runner")


def scope_of(penv: ProjectEnv, version_table: str | None = None) -> Scope:
    """The objects the project owns: its targets file's ``[objects]``."""
    declaration = declared.load(penv.project)
    ignore = frozenset({version_table}) if version_table else frozenset()
    return Scope(declaration.include, declaration.exclude, declaration.schemas, ignore)


def after_write(
    penv: ProjectEnv,
    connection: Connection,
    log_: ChangeLog | None,
    heads: Sequence[str],
    plan_digest: str = "",
) -> None:
    """Record the fingerprint of the schema as the write left it (with the digest of the
    plan the write applied, like every row of that run)."""
    if log_ is None:  # nothing was set up to write to (no step ran)
        return
    started = time.perf_counter()
    try:
        if connection.in_transaction():
            connection.commit()
        with connection.begin():
            digest = fingerprint(connection, scope_of(penv))
            record(log_, connection, heads, digest, plan_digest)
    except (DBAPIError, RunnerError) as exc:
        log_.forget()
        reason = exc.message if isinstance(exc, RunnerError) else type(exc).__name__
        log.warning(
            "%s: the schema fingerprint was not recorded (%s); drift --quick compares with"
            " a replica until a later write records one",
            penv.name,
            reason,
        )
        return
    log.debug("%s: schema fingerprint %s (%.0f ms)", penv.name, digest[:12],
              (time.perf_counter() - started) * 1000)  # fmt: skip
