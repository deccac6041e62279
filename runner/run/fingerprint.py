"""A schema fingerprint: one SHA-256 over the catalog rows that define a schema, and its
rows in the change log.

Cost decides the design: a fingerprint is taken after every successful write that
ran a step (:func:`after_write`, called by :mod:`runner.run.write` while it still
holds the project's lock; inside the write's own transaction when the write is
one transaction, else just after it commits), so it is one catalog query per schema
(:mod:`runner.db.catalog_sql`), not the Inspector's dozen (benchmarks/RESULTS.md
has the figures). A fingerprint that cannot be taken or recorded never fails the
write that succeeded: it is a warning, and ``drift --quick`` compares with a
replica until a later write records one. What it covers:

SQLite
    every CREATE statement in ``sqlite_master`` (tables, indexes, views,
    triggers), whitespace collapsed.
PostgreSQL
    per relation of the schema: columns (position, name, type with modifiers,
    NOT NULL, identity/generated, default expression), every constraint as
    ``pg_get_constraintdef`` prints it (primary, unique, foreign with actions,
    check, exclusion), indexes from ``pg_index`` (columns, operator classes,
    expressions, partial predicate),
    view queries, sequence parameters, enum labels in order, extensions,
    domains, functions (arguments and body), triggers and rules.
MySQL/MariaDB
    from ``information_schema``: columns (type, nullability, default, extra
    such as auto_increment, collation), index columns with prefix lengths,
    foreign keys with their rules and columns, checks, tables' engine and
    collation, view definitions, triggers, routines and events.

The runner's tables and whatever the include/exclude patterns leave out are not
covered; neither are grants, statistics or data. Two databases with equal
fingerprints have the same schema by those rows; the reverse needs the same
server version (a server may print a definition differently after an upgrade,
and then ``drift --quick`` compares with a replica, which finds no drift).

The digest is recorded in the change log as a row of its own, direction
``fingerprint``, its ``checksum`` field the digest and ``revision`` the heads the
database is at: the hash chain covers it like any row, old logs need no new
column, and a log read by an older runner still verifies. Other dialects get no
fingerprint (and ``drift --quick`` is then ``drift``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from runner.db.backends import backend
from runner.db.connect import describe_db_error
from runner.errors import RunnerError
from runner.output.results import Direction
from runner.project.environment import ProjectEnv
from runner.project.objects import Scope, scope_of
from runner.run.changelog import ChangeLog, LogEntry, utcnow

log = logging.getLogger("runner")

FINGERPRINT = str(Direction.FINGERPRINT)  # the change-log direction of a fingerprint row
DESCRIPTION = "schema fingerprint v1"  # what the digest covers changes: the version does


def fingerprint(connection: Connection, scope: Scope | None = None) -> str:
    """The SHA-256 (64 hex digits) of the schema ``connection`` sees, as ``scope`` keeps it;
    "" on a dialect without catalog queries."""
    scope = scope or Scope()
    kind = backend(connection.dialect.name)
    facts = kind.catalog
    if facts is None:
        return ""
    digest = hashlib.sha256(f"{kind.name}\n".encode())
    rows: list[str] = []
    if facts.verbatim:
        for type_, table, detail in connection.exec_driver_sql(facts.fingerprint):
            if scope.keeps(str(table)):
                rows.append(f"{type_}\x1f{table}\x1f{' '.join(str(detail).split())}")
    else:
        schemas: Sequence[str | None] = scope.schemas or [None]
        default = connection.execute(sa.text(facts.current_schema)).scalar()
        for schema in schemas:
            where = schema or default
            shown = None if schema in (None, default) else schema
            own = facts.own_qualifier.format(schema=where) if facts.own_qualifier else None
            for type_, name, detail in connection.execute(sa.text(facts.fingerprint),
                                                          {"schema": where}):  # fmt: skip
                if scope.keeps(str(name), shown):
                    text = str(detail).replace(own, "") if own else str(detail)
                    rows.append(f"{shown or ''}\x1f{type_}\x1f{name}\x1f{text}")
    for row in sorted(rows):
        digest.update(row.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def last_recorded(log_: ChangeLog, connection: Connection) -> LogEntry | None:
    """The newest fingerprint row of the log, if any."""
    c = log_.table.c
    return log_.newest(connection, c.direction == FINGERPRINT, c.success.is_(True))


def record(log_: ChangeLog, connection: Connection, heads: Sequence[str], digest: str,
           plan_digest: str = "") -> None:  # fmt: skip
    """Append a fingerprint row (the caller holds the project's lock and a transaction)."""
    now = utcnow()
    log_.append(connection, log_.entry(
        revision=",".join(sorted(heads)), down_revisions=[], direction=FINGERPRINT,
        description=DESCRIPTION, path="", checksum=digest, started=now, finished=now,
        plan_digest=plan_digest,
    ))  # fmt: skip


def after_write(
    penv: ProjectEnv,
    connection: Connection,
    log_: ChangeLog | None,
    heads: Sequence[str],
    plan_digest: str = "",
    *,
    in_transaction: bool = False,
) -> None:
    """Record the fingerprint of the schema as the write left it (with the digest of the
    plan the write applied, like every row of that run).

    ``in_transaction``: the write's own transaction is still open, its steps and rows
    in it; the fingerprint goes in under a savepoint, so that failing to take it
    undoes only its own row and the write still commits. Otherwise the write has
    committed and the fingerprint gets a transaction of its own.
    """
    if log_ is None:  # nothing was set up to write to (no step ran)
        return
    started = time.perf_counter()
    try:
        if not in_transaction and connection.in_transaction():
            connection.commit()
        with connection.begin_nested() if in_transaction else connection.begin():
            digest = fingerprint(connection, scope_of(penv.project))
            if digest:
                record(log_, connection, heads, digest, plan_digest)
    except Exception as exc:  # the write succeeded: it must say so whatever happens here
        log_.forget()
        reason = exc.message if isinstance(exc, RunnerError) else (
            describe_db_error(exc) if isinstance(exc, DBAPIError) else
            f"internal error {type(exc).__name__}: {exc}; please report it")  # fmt: skip
        log.warning(
            "%s: the schema fingerprint was not recorded (%s); drift --quick compares with"
            " a replica until a later write records one",
            penv.name,
            reason,
        )
        return
    log.debug("%s: schema fingerprint %s (%.0f ms)", penv.name, digest[:12],
              (time.perf_counter() - started) * 1000)  # fmt: skip
