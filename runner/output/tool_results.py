"""Results of ``new``/``revision``, ``test`` (round trips) and ``repair``.

Kept apart from :mod:`runner.output.results` only for start-up time: building a
dataclass costs about 0.4 ms, and ``upgrade`` and ``status`` need none of these. The
same rules hold (their JSON shape is versioned by ``results.SCHEMA_VERSION``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.output.results import VerifyResult


@dataclass(frozen=True)
class CreatedFiles:
    """``new`` and ``revision``: files written, and the new revision id if any."""

    project: str
    files: list[str]
    revision: str | None = None


@dataclass(frozen=True)
class RoundTripCase:
    """``test``: one revision's round trip (upgrade, downgrade, compare, re-upgrade, compare).

    ``status`` is ``passed``, ``failed`` or ``skipped`` (not run because an earlier
    revision failed). ``step`` names the failing step: ``upgrade``, ``downgrade``,
    ``schema-after-downgrade`` or ``re-upgrade``; ``diff`` lists schema differences.
    """

    revision: str
    down_revisions: list[str]
    message: str
    status: str
    step: str | None = None
    error: str | None = None
    diff: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class RoundTripResult:
    """``test``: a project's round trip on a throw-away database, one case per revision."""

    project: str
    url: str
    dialect: str
    passed: bool
    cases: list[RoundTripCase]
    seconds: float


@dataclass(frozen=True)
class RepairResult:
    """``repair``: what was recorded and acknowledged, and what verify says afterwards."""

    project: str
    recorded: list[str]  # "baseline r1", "repair r2"
    acknowledged: list[str]  # the kinds of problem accepted as they are
    verify: VerifyResult
    target: str | None = None  # the declared target (prod, tenants/acme), if any
