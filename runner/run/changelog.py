"""The change log: one row per step, per project, in the project's own database.

Alembic keeps only the current head. This table keeps the history a DBA needs:
what ran, in which direction, who ran it (database user, OS user, CI identity),
from which commit and job, how long it took, whether it worked, and the
checksum of the revision file as it was when it ran.

What the rows prove (``docs/reliability.md`` says the same for users):

* Rows are chained: each row stores a hash over the previous row's hash and
  its own fields, so editing or deleting a row in the middle of the log breaks
  the chain at that row (:func:`chain_problems`).
* The first row a runner writes into a new table is a ``log-created`` row
  naming the revisions the database was at: a revision applied after it must
  have a row, so deleting the newest rows, or emptying the table, is seen by
  comparing with the version table (:mod:`runner.run.verify`).
* Without a key, the hash is plain SHA-256: anyone who may UPDATE the table
  can recompute it. With a key (``<NAME>_LOG_KEY``, ``RUNNER_LOG_KEY``, or
  their ``_FILE`` variants) each row carries an HMAC-SHA-256 instead (stored
  as ``k`` + 63 hex digits), which cannot be forged without the key; once a
  log holds keyed rows, the runner refuses to append unkeyed ones.
* Nothing in the database alone survives a ``DROP TABLE``: a new table then
  starts over from the current revisions. Keep ``log --head`` (the newest
  row's id and hash) outside the database and check it with
  ``verify --anchor ID:HASH`` for that.

On PostgreSQL and SQLite a step's row is written in the same transaction as
the step, so the log never claims a change that was rolled back; a failure is
recorded afterwards, in a transaction of its own, and only while the run still
holds its lock.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from runner import __version__
from runner.db.backends import KNOWN, Backend
from runner.db.connect import describe_db_error
from runner.errors import ConfigError, Refused
from runner.output.results import Direction, RowState
from runner.project.environment import ProjectEnv
from runner.project.resolve import log_key
from runner.run import provenance
from runner.run.provenance import Provenance

ERROR_LIMIT = 1000
CHAIN_START = "0" * 64  # the "previous hash" of the first row
KEYED = "k"  # prefix of an HMAC row hash; a SHA-256 hex digest never starts with it
# The error text of an in-progress row (MySQL/MariaDB); a later row of the run closes it.
IN_PROGRESS = "started, not finished (the run was interrupted during this revision)"
# The error text of an attempt that gave up waiting for a lock and kept nothing (rolled
# back, or stopped at the revision's first change): LOCK_TIMEOUT.format(attempt=...).
LOCK_TIMEOUT = "lock timeout ({attempt}), rolled back, nothing kept"
_LOCK_TIMEOUT = re.compile(r"lock timeout \(attempt \d+ of \d+\), rolled back, nothing kept")


def table_name(project: str) -> str:
    """``alembic_changelog_<project>``, beside ``alembic_version_<project>``."""
    return "alembic_changelog_" + project.replace("-", "_")


def make_table(project: str, schema: str | None, backend: Backend | None = None) -> sa.Table:
    """The change-log table, with the table options of ``backend`` (the database it is
    for), or of every known backend when None. Only its own: naming MySQL's options on
    a PostgreSQL run made SQLAlchemy import its MySQL dialect (~6 ms of start-up)."""
    found = (backend,) if backend is not None else KNOWN
    options: dict[str, Any] = {k: v for b in found for k, v in b.table_options}
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
        **options,
    )


# Slotted, not frozen: a frozen dataclass sets each of its 22 fields through
# object.__setattr__, and reading a 50 000-row log built entries ten times slower.
# Nothing mutates an entry; treat it as a value.
@dataclass(slots=True)
class LogEntry:
    """One row of the change log (times are UTC, whole seconds).

    ``state`` is not stored: it says what the row was, read with its neighbours
    (an in-progress row that a later row of its run closed was just a start).
    """

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
    state: str = ""

    @property
    def kept_nothing(self) -> bool:
        """A failed attempt that gave up waiting for a lock and left nothing behind."""
        return not self.success and bool(_LOCK_TIMEOUT.match(self.error))

    def stored(self) -> dict[str, Any]:
        """The row's columns and values (``state`` is derived, never stored)."""
        return {name: getattr(self, name) for name in STORED_FIELDS}

    @property
    def in_progress(self) -> bool:
        """An "in progress" row written before a step that cannot roll back."""
        return not self.success and self.error == IN_PROGRESS

    def payload(self, previous: str) -> bytes:
        """What the row hash covers: the previous row's hash and every stored field."""
        parts = [
            previous, self.project, self.revision, self.down_revisions, self.direction,
            self.description, self.path, self.checksum, self.db_user, self.os_user,
            self.ci_identity, self.ci_job_url, self.git_commit, self.runner_version,
            self.plan_digest, self.started_at.isoformat(), self.finished_at.isoformat(),
            str(self.duration_ms), str(int(self.success)), self.error,
        ]  # fmt: skip
        return "\x1f".join(parts).encode()

    def chained_hash(self, previous: str) -> str:
        """The unkeyed row hash this entry must carry after ``previous``."""
        return hashlib.sha256(self.payload(previous)).hexdigest()


# LogEntry's fields that are columns, in order (``state`` is derived, never stored).
STORED_FIELDS = tuple(f.name for f in fields(LogEntry) if f.name != "state")


def seal(entry: LogEntry, previous: str, key: bytes | None) -> str:
    """The row hash to store: HMAC with ``key`` (``k`` + 63 hex digits), else SHA-256."""
    if key is None:
        return entry.chained_hash(previous)
    return KEYED + hmac.new(key, entry.payload(previous), hashlib.sha256).hexdigest()[:63]


def utcnow() -> dt.datetime:
    """Now, UTC, naive, whole seconds: what every backend stores and returns unchanged."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclass
class ChangeLog:
    """The change-log table of one project, and who is writing to it."""

    project: str
    table: sa.Table
    # Who is writing, or how to find out: read when the first row is made, so that
    # commands that only read the log (status, verify, log) never run git for it.
    provenance: Provenance | Callable[[], Provenance]
    db_user: str
    runner_version: str
    key: bytes | None = None
    key_source: str = ""  # the variables that would give the key, for messages
    _last_hash: str | None = None
    _created: bool = False  # ensure() ran in the current transaction

    @classmethod
    def for_project(
        cls,
        project: str,
        schema: str | None,
        provenance: Provenance | Callable[[], Provenance],
        db_user: str,
        runner_version: str,
        key: bytes | None = None,
        key_source: str = "",
        backend: Backend | None = None,
    ) -> ChangeLog:
        return cls(
            project, make_table(project, schema, backend), provenance, db_user, runner_version,
            key, key_source,
        )  # fmt: skip

    def who(self) -> Provenance:
        """Who is writing (read once, on first use)."""
        if not isinstance(self.provenance, Provenance):
            self.provenance = self.provenance()
        return self.provenance

    def ensure(
        self, connection: Connection, current: Sequence[str], *, acknowledging: bool = False
    ) -> None:
        """Make sure the table exists and starts with a ``log-created`` row naming where
        the database was when the log began (call while holding the project lock).

        A table written before such rows existed gets one now. An existing table with
        no rows at all while the database is at a revision was emptied: only ``repair``
        (``acknowledging``) may start it over.
        """
        if self._created:
            return
        if not self.exists(connection):
            try:
                # exists() just said no, and we hold the lock: no second look
                self.table.create(connection, checkfirst=False)
            except DBAPIError as exc:  # typically a user without CREATE rights
                raise ConfigError(
                    f"cannot create the change-log table {self.table.fullname}:"
                    f" {describe_db_error(exc)} (the database user needs the right to create"
                    " it once, like the version table)",
                    project=self.project,
                ) from exc
            self._last_hash = CHAIN_START
        elif not self._has_start(connection):
            if current and not acknowledging and self._is_empty(connection):
                raise Refused(
                    f"the change log {self.table.fullname} is empty but the database is at"
                    f" {', '.join(current)}: its rows were deleted; check the database, then"
                    f" run: runner repair {self.project}",
                    project=self.project,
                )
        else:
            self._created = True
            return
        self._created = True
        self.append(connection, self.created_entry(current))

    def _has_start(self, connection: Connection) -> bool:
        query = sa.select(self.table.c.id).where(
            self.table.c.direction == str(Direction.LOG_CREATED)
        )
        return connection.execute(query.limit(1)).first() is not None

    def _is_empty(self, connection: Connection) -> bool:
        return connection.execute(sa.select(self.table.c.id).limit(1)).first() is None

    def created_entry(self, current: Sequence[str]) -> LogEntry:
        """The row that starts the log: where the database was when the log began."""
        return self.entry(
            revision=",".join(current), down_revisions=[], direction=Direction.LOG_CREATED,
            description="change log started", path="", checksum="", started=utcnow(),
        )  # fmt: skip

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
        who = self.who()
        return LogEntry(
            id=None, project=self.project, revision=revision,
            down_revisions=",".join(down_revisions), direction=str(direction),
            description=description[:255], path=path[:512], checksum=checksum,
            db_user=self.db_user[:128], os_user=who.os_user[:128],
            ci_identity=(who.ci_identity or "")[:255], ci_job_url=(who.ci_job_url or "")[:512],
            git_commit=(who.git_commit or "")[:80],
            runner_version=self.runner_version[:32], plan_digest=plan_digest,
            started_at=started, finished_at=finished,
            duration_ms=max(0, duration_ms),
            success=success, error=error[:ERROR_LIMIT],
        )  # fmt: skip

    def append(self, connection: Connection, *entries: LogEntry) -> None:
        """Insert ``entries`` (one statement), chained to the newest row.

        The newest hash is read once and then kept: we hold the project lock, so
        nobody else appends. Call :meth:`forget` after a rollback. A log that
        holds keyed rows takes no unkeyed ones: that would be a forgery.
        """
        if not entries:
            return
        if self._last_hash is None:
            self._last_hash = (
                connection.execute(
                    sa.select(self.table.c.row_hash).order_by(self.table.c.id.desc()).limit(1)
                ).scalar()
                or CHAIN_START
            )
        if self.key is None and self._last_hash.startswith(KEYED):
            raise ConfigError(
                f"the change log {self.table.fullname} is keyed (HMAC): set {self.key_source}"
                " to write to it",
                project=self.project,
            )
        rows = []
        for entry in entries:
            values = entry.stored()
            del values["id"]
            values["row_hash"] = self._last_hash = seal(entry, self._last_hash, self.key)
            rows.append(values)
        try:
            connection.execute(self.table.insert(), rows)
        except DBAPIError as exc:
            if "incorrect string value" not in str(exc.orig).lower():
                raise
            # A table made before it was created utf8mb4, on a latin1 database.
            raise ConfigError(
                f"the change-log table {self.table.fullname} cannot store this text (its"
                " character set is not utf8mb4); convert it once: ALTER TABLE"
                f" {self.table.fullname} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
                project=self.project,
            ) from exc

    @property
    def columns(self) -> list[sa.Column[Any]]:
        """The stored columns in the order of :class:`LogEntry`'s fields."""
        return [self.table.c[name] for name in STORED_FIELDS]

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
        query = sa.select(*self.columns)
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
        # Positional rows, not row._asdict(): a 50 000-row log is read in a third of the
        # time, and verify, status and every write read all of it.
        entries = [LogEntry(*row) for row in connection.execute(query).all()]
        if not (revision or since or until or limit):  # the whole log: its newest hash is known
            newest = entries[0 if newest_first else -1] if entries else None
            self._last_hash = newest.row_hash if newest else CHAIN_START
        return entries

    def newest(self, connection: Connection, *where: Any) -> LogEntry | None:
        """The newest row matching ``where`` (one query on the primary key's order), or
        ``None``, also when the table does not exist yet."""
        if not self.exists(connection):
            return None
        query = sa.select(*self.columns).where(*where).order_by(self.table.c.id.desc())
        row = connection.execute(query.limit(1)).first()
        return LogEntry(*row) if row is not None else None

    def following(self, connection: Connection, ids: Sequence[int]) -> dict[int, LogEntry]:
        """For each row id, the row right after it (if any): what closed an in-progress row."""
        found: dict[int, LogEntry] = {}
        for row_id in ids:
            row = connection.execute(
                sa.select(*self.columns).where(self.table.c.id > row_id).order_by(
                    self.table.c.id).limit(1)
            ).first()  # fmt: skip
            if row is not None:
                found[row_id] = LogEntry(*row)
        return found


def project_log(penv: ProjectEnv, schema: str | None) -> ChangeLog:
    """The project's change log, stamped with who is running and from where."""
    key, key_source = log_key(penv.project, os.environ)
    return ChangeLog.for_project(
        penv.name,
        schema,
        functools.partial(provenance.read, os.environ, penv.project.root, penv.project.path),
        db_user=penv.target.url.username or "",
        runner_version=__version__,
        key=key,
        key_source=key_source,
        backend=penv.target.backend,
    )


def state_of(entry: LogEntry, following: LogEntry | None) -> RowState:
    """What a row was, given the row after it (``None`` when it is the newest)."""
    if entry.in_progress:
        closed = (
            following is not None
            and following.revision == entry.revision
            and (following.direction == entry.direction)
        )
        return RowState.STARTED if closed else RowState.INTERRUPTED
    if entry.direction in {Direction.LOG_CREATED, Direction.ACKNOWLEDGE, Direction.FINGERPRINT}:
        return RowState.RECORDED
    if entry.kept_nothing:
        return RowState.LOCK_TIMEOUT
    return RowState.SUCCEEDED if entry.success else RowState.FAILED


@dataclass(frozen=True)
class ChainProblem:
    """A row that does not follow from the one before it, and how."""

    row_id: int
    kind: str  # "broken": content or hash changed; "unkeyed": unkeyed row after keyed ones
    message: str


def chain_problems(
    entries_oldest_first: Sequence[LogEntry], key: bytes | None
) -> tuple[list[ChainProblem], int]:
    """Rows that break the chain, and how many keyed rows could not be checked (no key)."""
    problems: list[ChainProblem] = []
    previous, keyed_seen, unchecked = CHAIN_START, False, 0
    for entry in entries_oldest_first:
        row = f"change-log row {entry.id or 0}"
        found: tuple[str, str] | None = None
        if entry.row_hash.startswith(KEYED):
            keyed_seen = True
            if key is None:
                unchecked += 1
            elif seal(entry, previous, key) != entry.row_hash:
                found = ("broken", f"{row} does not match its HMAC (edited or forged)")
        elif entry.chained_hash(previous) != entry.row_hash:
            found = ("broken", f"{row} does not match the hash chain (edited or deleted rows)")
        elif keyed_seen:
            found = ("unkeyed", f"{row} is not keyed although earlier rows are (forged)")
        if found is not None:
            problems.append(ChainProblem(entry.id or 0, *found))
        previous = entry.row_hash
    return problems, unchecked


def digest_before(entries_oldest_first: Sequence[LogEntry], row_id: int | None) -> str:
    """A digest of every row before ``row_id`` (all rows for ``None``), content and stored
    hash: what an ``acknowledge`` row records, so an old row changed after a repair is seen."""
    digest = hashlib.sha256()
    previous = CHAIN_START
    for entry in entries_oldest_first:
        if row_id is not None and (entry.id or 0) >= row_id:
            break
        digest.update(f"{entry.id}:{entry.chained_hash(previous)}:{entry.row_hash}\n".encode())
        previous = entry.row_hash
    return digest.hexdigest()
