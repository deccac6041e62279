"""What commands return: plain dataclasses, rendered by :mod:`runner.report`.

The JSON shapes (``--json``) are these dataclasses through
:func:`dataclasses.asdict`; they are documented in the README and versioned
by :data:`SCHEMA_VERSION`. Add fields freely, never rename or remove one
without bumping it. The results of the verbs a deploy does not run live in
:mod:`runner.output.inspect_results`, :mod:`runner.output.tool_results` and
:mod:`runner.output.live_results` (a plan's view of the live database), so that
``upgrade`` and ``status`` do not build their dataclasses at start-up.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # PlanResult.live: built only by a plan against a live database
    from runner.output.live_results import LivePlan

SCHEMA_VERSION = 1
BASE = "base"  # how the empty database (no revision) is named in every output


def describe_revs(revs: Sequence[str]) -> str:
    """``base`` for no revision, else the ids joined: for messages and text output."""
    return ", ".join(revs) if revs else BASE


class _Word(str, enum.Enum):
    """A word of the output vocabulary: compares, prints and serialises as its value."""

    def __str__(self) -> str:
        return str(self.value)

    # Enum hashes by member name: without this, "upgrade" in {Direction.UPGRADE} is False.
    __hash__ = str.__hash__


class Direction(_Word):
    """What a change-log row records, and what a writing command does."""

    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    STAMP = "stamp"
    STAMP_DOWN = "stamp-down"  # a stamp that moved the version table down
    BASELINE = "baseline"  # repair recorded a checksum for a revision applied without one
    REPAIR = "repair"  # repair re-recorded a checksum
    ACKNOWLEDGE = "acknowledge"  # repair accepted the log as it was (a failed run, old breaks)
    LOG_CREATED = "log-created"  # the first row: the revisions the database was at
    FINGERPRINT = "fingerprint"  # the schema's digest after a write (runner.adopt)


class RowState(_Word):
    """What a change-log row was, read with the row after it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STARTED = "started"  # an in-progress row that a later row of its run closed
    INTERRUPTED = "interrupted"  # an in-progress row nothing closed: the run was killed
    RECORDED = "recorded"  # a row about the log itself (log-created, acknowledge)
    LOCK_TIMEOUT = "lock timeout"  # an attempt that gave up waiting for a lock, kept nothing


class CaseStatus(_Word):
    """The verdict on one revision of a round trip."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RevisionInfo:
    """One revision of a project's history."""

    revision: str
    down_revisions: list[str]
    message: str
    path: str
    branch_labels: list[str] = field(default_factory=list)
    is_head: bool = False
    is_merge: bool = False
    # Whether the database has it (history, when it can ask the database); else None.
    applied: bool | None = None


@dataclass(frozen=True)
class StatusResult:
    """``status``: where a project's database stands against its history."""

    project: str
    url: str
    url_source: str
    version_table: str | None
    current: list[str]
    heads: list[str]
    pending: list[str]
    up_to_date: bool
    problem: str | None = None
    # The newest step in the change log: when, what, who (None before the first).
    last_change: LastChange | None = None
    # What verify says of the applied revisions (edited, unlogged, a failed run ...).
    verify_problems: list[str] = field(default_factory=list)
    target: str | None = None  # the declared target (prod, tenants/acme), if any


@dataclass(frozen=True)
class LastChange:
    """The newest step of a change log, for ``status``."""

    finished_at: Any  # datetime (UTC)
    direction: str
    revision: str
    by: str
    db_user: str


@dataclass(frozen=True)
class LockSession:
    """Another session holding (or awaiting) a lock on a table, or one with an open
    transaction where locks per table cannot be read. Never its query: that may hold
    literals (a password, a customer's data)."""

    pid: int
    user: str
    application: str
    state: str
    transaction_seconds: int | None  # how long its transaction has been open
    locks: list[str] = field(default_factory=list)  # lock modes (PostgreSQL)
    waiting: bool = False  # it waits for a lock here rather than holding one

    def describe(self) -> str:
        """``pid 4242 (user app, application psql, idle in transaction, transaction open
        12 s, AccessShareLock)``: for an error line or a plan."""
        parts = [f"user {self.user or '?'}"]
        if self.application:
            parts.append(f"application {self.application}")
        if self.state:
            parts.append(self.state)
        if self.transaction_seconds is not None:
            parts.append(f"transaction open {self.transaction_seconds} s")
        if self.locks:
            parts.append(("waiting for " if self.waiting else "") + ", ".join(self.locks))
        return f"pid {self.pid} ({', '.join(parts)})"


def human_bytes(count: int | None) -> str:
    """``1.4 MiB``.

    >>> human_bytes(1536), human_bytes(0), human_bytes(3 * 1024**3)
    ('1.5 KiB', '0 B', '3.0 GiB')
    """
    if count is None:
        return "size unknown"
    value, unit = float(count), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"


@dataclass(frozen=True)
class MigrateResult:
    """``upgrade``, ``downgrade``, ``stamp``: what ran and where the database ended."""

    project: str
    url: str
    action: str
    before: list[str]
    after: list[str]
    steps: list[RevisionInfo]
    target: str | None = None  # the declared target (prod, tenants/acme), if any
    lock_timeouts: int = 0  # attempts that gave up waiting for a lock and were retried


@dataclass(frozen=True)
class PlanResult:
    """``plan``: the SQL an upgrade to the heads would run, rendered offline."""

    project: str
    url: str
    dialect: str
    before: list[str]
    after: list[str]
    revisions: list[RevisionInfo]
    sql: str
    findings: list[LintFinding] = field(default_factory=list)  # of the pending revisions
    checksums: dict[str, str] = field(default_factory=dict)
    # revision -> why its SQL cannot be shown (it needs a live database to render)
    unrendered: dict[str, str] = field(default_factory=dict)
    action: str = "upgrade"  # downgrade: the SQL a rollback would run (review only)
    destination: str = "heads"
    target: str | None = None  # the declared target (prod, tenants/acme), if any
    live: LivePlan | None = None  # the tables the SQL touches, read from the database


@dataclass(frozen=True)
class LintFinding:
    """``lint``: one finding; ``accepted`` when a marker in the revision file says why."""

    rule: str
    severity: str
    message: str
    revision: str | None = None
    path: str | None = None
    statement: str | None = None
    accepted: bool = False
    reason: str | None = None
    # Where to look: the file (relative to the project folder; the revision file or its
    # paired .sql file, alembic.ini for project-wide findings) and the line in it.
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class LintRevision:
    """``lint``: a revision as read from its file (the history may not load)."""

    revision: str
    down_revisions: list[str]
    path: str


@dataclass(frozen=True)
class LintResult:
    """``lint``: a project's findings; ``ok`` when no unaccepted error remains."""

    project: str
    dialect: str
    revisions: list[LintRevision]  # in upgrade order
    findings: list[LintFinding]
    errors: int
    ok: bool
    path: str = ""  # the project folder relative to the repository root (projects/<name>)


@dataclass(frozen=True)
class VerifyProblem:
    """One finding of ``verify``."""

    kind: str
    revision: str
    path: str
    message: str


@dataclass(frozen=True)
class VerifyResult:
    """``verify``: applied revisions checked against the repository and the log chain."""

    project: str
    url: str
    current: list[str]
    ok: bool
    problems: list[VerifyProblem]
    warnings: list[VerifyProblem]
    checked: int
    target: str | None = None  # the declared target (prod, tenants/acme), if any
