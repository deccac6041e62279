"""Retrying a revision that gave up waiting for a lock (the deploy guard's other half).

A statement that waited longer than the target's lock wait (:mod:`runner.db.guard`)
fails with the backend's lock-timeout error. The write path then rolls the
revision's transaction back, records the attempt in the change log as what it
was, pauses, and runs the write again from where the database now is, up to
``lock_retries`` times. While it pauses it holds no table lock, so the sessions
queued behind the waiting statement go on.

A retry is only made when nothing of the failed attempt was kept:

* the attempt ran in a transaction that rolled back whole (PostgreSQL, a
  transaction per revision or one for the run); or
* no statement of the revision that changes anything had completed yet
  (:class:`WriteWatch`). That is the only case where DDL commits itself
  (MySQL/MariaDB) or the revision uses ``autocommit_block``: the lock timeout hit
  its first change, and nothing of it was applied.

Otherwise the failure is an ordinary failed revision (on MySQL/MariaDB it then
waits for ``repair``, as any half-applied revision does).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from runner.errors import FailedStep, MigrationFailed
from runner.project.repository import RUNNER_TABLES_RE

# Statements that change nothing a rollback could not undo (or nothing at all).
_READS = re.compile(
    r"\s*(SELECT|SHOW|SET|EXPLAIN|DESCRIBE|DESC|PRAGMA|BEGIN|START\s+TRANSACTION|SAVEPOINT|"
    r"RELEASE|ROLLBACK)\b",
    re.IGNORECASE,
)
# The runner's and Alembic's own tables: creating them, or a version row, is bookkeeping.
_BOOKKEEPING = re.compile(rf"\b({RUNNER_TABLES_RE})\b", re.IGNORECASE)


@dataclass(frozen=True)
class Attempt:
    """Attempt ``number`` (from 1) of ``total``."""

    number: int
    total: int

    @property
    def last(self) -> bool:
        return self.number >= self.total

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.total}"


FIRST = Attempt(1, 1)


def pause(backoff: float, attempt: Attempt) -> float:
    """Seconds to wait after ``attempt`` failed: ``backoff`` doubled per attempt, times a
    random factor in [0.5, 1.5) so that several runners (a fleet, a retrying CI job) do
    not come back to the same table at the same instant."""
    return float(backoff * 2 ** (attempt.number - 1) * (0.5 + random.random()))


class TryAgain(MigrationFailed):
    """A revision gave up waiting for a lock and nothing of it was kept: the write runs
    again after ``wait`` seconds. Caught by the write path; never reaches the user."""

    def __init__(self, message: str, wait: float, failed_step: FailedStep | None, *,
                 project: str | None = None) -> None:  # fmt: skip
        super().__init__(message, failed_step, project=project)
        self.wait = wait


def lock_timeout_cause(exc: BaseException) -> DBAPIError | None:
    """The driver error under a failed step, if any (the lock timeout is asked of it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError):
            return seen
        seen = seen.__cause__
    return None


class WriteWatch:
    """Counts the statements of the running revision that changed something (not reads,
    not the version table or change log) and completed: zero means a failure now leaves
    nothing of the revision behind, even where DDL commits itself."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.writes = 0
        event.listen(connection, "after_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if _READS.match(statement) or _BOOKKEEPING.search(statement.split("(", 1)[0]):
            return
        self.writes += 1

    def reset(self) -> None:
        """A new revision starts."""
        self.writes = 0

    def close(self) -> None:
        if not self.connection.closed:
            event.remove(self.connection, "after_cursor_execute", self._seen)
