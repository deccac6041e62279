"""The change log: one row per step, per project, in the project's own database.

Alembic keeps only the current head. This table keeps the history a DBA needs:
what ran, in which direction, who ran it (database user, OS user, CI identity),
from which commit and job, how long it took, whether it worked, and the
checksum of the revision file as it was when it ran.

Rows are chained: each row stores ``row_hash = sha256(previous row_hash +
this row's fields)``, so editing or deleting a row in the middle of the log
is detected by :func:`chain_breaks`. (Deleting the newest rows is not: compare
with the version table, which ``verify`` does.)

On PostgreSQL and SQLite a step's row is written in the same transaction as
the step, so the log never claims a change that was rolled back; a failure is
recorded afterwards, in a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from runner import __version__
from runner.db.connect import describe_db_error
from runner.errors import ConfigError
from runner.project.environment import ProjectEnv
from runner.run import provenance
from runner.run.provenance import Provenance

ERROR_LIMIT = 1000
GENESIS = "0" * 64


def table_name(project: str) -> str:
    """``alembic_changelog_<project>``, beside ``alembic_version_<project>``."""
    return "alembic_changelog_" + project.replace("-", "_")


def make_table(project: str, schema: str | None) -> sa.Table:
    return sa.Table(
        table_name(project),
        sa.MetaData(schema=schema),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(255), nullable=False),
        sa.Column("down_revisions", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("db_user", sa.String(128), nullable=False),
        sa.Column("os_user", sa.String(128), nullable=False),
        sa.Column("ci_identity", sa.String(255), nullable=False),
        sa.Column("ci_job_url", sa.String(512), nullable=False),
        sa.Column("git_commit", sa.String(80), nullable=False),
        sa.Column("runner_version", sa.String(32), nullable=False),
        sa.Column("plan_digest", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("error", sa.String(ERROR_LIMIT), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
    )


@dataclass(frozen=True)
class LogEntry:
    """One row of the change log (times are UTC, whole seconds)."""

    id: int | None
    project: str
    revision: str
    down_revisions: str
    direction: str
    description: str
    path: str
    checksum: str
    db_user: str
    os_user: str
    ci_identity: str
    ci_job_url: str
    git_commit: str
    runner_version: str
    plan_digest: str
    started_at: dt.datetime
    finished_at: dt.datetime
    duration_ms: int
    success: bool
    error: str
    row_hash: str = ""

    def chained_hash(self, previous: str) -> str:
        """The row hash this entry must carry after ``previous``."""
        fields = [
            previous, self.project, self.revision, self.down_revisions, self.direction,
            self.description, self.path, self.checksum, self.db_user, self.os_user,
            self.ci_identity, self.ci_job_url, self.git_commit, self.runner_version,
            self.plan_digest, self.started_at.isoformat(), self.finished_at.isoformat(),
            str(self.duration_ms), str(int(self.success)), self.error,
        ]  # fmt: skip
        return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def utcnow() -> dt.datetime:
    """Now, UTC, naive, whole seconds: what every backend stores and returns unchanged."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclass
class ChangeLog:
    """The change-log table of one project, and who is writing to it."""

    project: str
    table: sa.Table
    provenance: Provenance
    db_user: str
    runner_version: str
    _last_hash: str | None = None
    _created: bool = False  # ensure() ran in the current transaction

    @classmethod
    def for_project(
        cls,
        project: str,
        schema: str | None,
        provenance: Provenance,
        db_user: str,
        runner_version: str,
    ) -> ChangeLog:
        return cls(project, make_table(project, schema), provenance, db_user, runner_version)

    def ensure(self, connection: Connection) -> None:
        """Create the table on first use (call while holding the project lock)."""
        try:
            self.table.create(connection, checkfirst=True)
        except DBAPIError as exc:  # typically a user without CREATE rights
            raise ConfigError(
                f"cannot create the change-log table {self.table.fullname}:"
                f" {describe_db_error(exc)} (the database user needs the right to create it"
                " once, like the version table)",
                project=self.project,
            ) from exc
        self._created = True

    def exists(self, connection: Connection) -> bool:
        if self._created:
            return True
        return sa.inspect(connection).has_table(self.table.name, schema=self.table.schema)

    def entry(
        self,
        *,
        revision: str,
        down_revisions: Sequence[str],
        direction: str,
        description: str,
        path: str,
        checksum: str,
        started: dt.datetime,
        success: bool = True,
        error: str = "",
        plan_digest: str = "",
        duration_ms: int | None = None,
        finished: dt.datetime | None = None,
    ) -> LogEntry:
        finished = finished or utcnow()
        if duration_ms is None:  # timestamps are whole seconds: callers pass a clock reading
            duration_ms = int((finished - started).total_seconds() * 1000)
        return LogEntry(
            id=None, project=self.project, revision=revision,
            down_revisions=",".join(down_revisions), direction=direction,
            description=description[:255], path=path[:512], checksum=checksum,
            db_user=self.db_user[:128], os_user=self.provenance.os_user[:128],
            ci_identity=(self.provenance.ci_identity or "")[:255],
            ci_job_url=(self.provenance.ci_job_url or "")[:512],
            git_commit=(self.provenance.git_commit or "")[:80],
            runner_version=self.runner_version[:32], plan_digest=plan_digest,
            started_at=started, finished_at=finished,
            duration_ms=max(0, duration_ms),
            success=success, error=error[:ERROR_LIMIT],
        )  # fmt: skip

    def append(self, connection: Connection, *entries: LogEntry) -> None:
        """Insert ``entries`` (one statement), chained to the newest row.

        The newest hash is read once and then kept: we hold the project lock, so
        nobody else appends. Call :meth:`forget` after a rollback.
        """
        if not entries:
            return
        if self._last_hash is None:
            self._last_hash = (
                connection.execute(
                    sa.select(self.table.c.row_hash).order_by(self.table.c.id.desc()).limit(1)
                ).scalar()
                or GENESIS
            )
        rows = []
        for entry in entries:
            values = {k: v for k, v in vars(entry).items() if k not in {"id", "row_hash"}}
            values["row_hash"] = self._last_hash = entry.chained_hash(self._last_hash)
            rows.append(values)
        connection.execute(self.table.insert(), rows)

    def forget(self) -> None:
        """Drop what we know of the table: a rollback may have undone our rows or the table."""
        self._last_hash = None
        self._created = False

    def entries(
        self,
        connection: Connection,
        *,
        revision: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        newest_first: bool = True,
        limit: int | None = None,
    ) -> list[LogEntry]:
        """Rows of this project's log, filtered; empty when the table does not exist yet."""
        if not self.exists(connection):
            return []
        query = sa.select(self.table)
        if revision:
            query = query.where(self.table.c.revision.like(f"%{revision}%"))
        if since:
            query = query.where(self.table.c.started_at >= since)
        if until:
            query = query.where(self.table.c.started_at <= until)
        order = self.table.c.id.desc() if newest_first else self.table.c.id.asc()
        query = query.order_by(order)
        if limit:
            query = query.limit(limit)
        entries = [LogEntry(**row._asdict()) for row in connection.execute(query)]
        if not (revision or since or until or limit):  # the whole log: its newest hash is known
            newest = entries[0 if newest_first else -1] if entries else None
            self._last_hash = newest.row_hash if newest else GENESIS
        return entries


def chain_breaks(entries_oldest_first: Sequence[LogEntry]) -> list[int]:
    """Ids of rows whose hash does not follow from the row before them.

    A ``repair`` row re-anchors nothing: it is chained like any other, so a
    break before it stays visible in the history; ``verify`` only fails on
    breaks after the newest repair (a human looked at the earlier ones).
    """
    broken = []
    previous = GENESIS
    for entry in entries_oldest_first:
        if entry.chained_hash(previous) != entry.row_hash:
            broken.append(entry.id or 0)
        previous = entry.row_hash
    return broken


def project_log(penv: ProjectEnv, schema: str | None) -> ChangeLog:
    """The project's change log, stamped with who is running and from where."""
    return ChangeLog.for_project(
        penv.name,
        schema,
        provenance.read(os.environ, penv.project.root),
        db_user=penv.target.url.username or "",
        runner_version=__version__,
    )
