"""Results of ``log``: the change-log rows as shown.

Kept apart from :mod:`runner.output.results` only for start-up time: building a
dataclass costs about 0.4 ms (``LogRow``, 21 fields, more), and no other verb needs
these. The same rules hold (their JSON shape is versioned by
``results.SCHEMA_VERSION``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogRow:
    """``log``: one change-log row as shown (``down_revisions`` a list; ``[]`` is base)."""

    id: int | None
    revision: str
    down_revisions: list[str]
    direction: str
    state: str
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
    started_at: Any  # datetime (UTC)
    finished_at: Any
    duration_ms: int
    success: bool
    error: str
    row_hash: str


@dataclass(frozen=True)
class LogResult:
    """``log``: change-log rows, newest first."""

    project: str
    url: str
    entries: list[LogRow]
    target: str | None = None  # the declared target (prod, tenants/acme), if any
