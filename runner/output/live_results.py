"""A plan's view of the live database (``plan`` against a database, ``runner.run.live``).

Kept apart from :mod:`runner.output.results` only for start-up time: building a
dataclass costs about 0.4 ms, and ``upgrade`` and ``status`` need none of these. The
same rules hold (their JSON shape, inside ``PlanResult.live``, is versioned by
``results.SCHEMA_VERSION``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.output.results import LockSession, human_bytes


@dataclass(frozen=True)
class TableFacts:
    """What the live database says of one table a plan's SQL touches."""

    name: str
    rows: int | None  # the planner's estimate (None: never analysed)
    bytes: int | None  # table, indexes and TOAST
    sessions: list[LockSession] = field(default_factory=list)

    @property
    def size(self) -> str:
        """``~20000 rows, 1.4 MiB``: the figures for people."""
        rows = "rows unknown (never analysed)" if self.rows is None else f"~{self.rows} rows"
        return f"{rows}, {human_bytes(self.bytes)}" if self.bytes is not None else rows


@dataclass(frozen=True)
class StatementTables:
    """One statement of a plan's SQL and the existing tables it touches; ``end`` is
    where the statement ends in the plan's ``sql`` (notes are shown after it)."""

    revision: str
    statement: str  # on one line, at most 200 characters
    tables: list[str]
    end: int


@dataclass(frozen=True)
class SeverityChange:
    """A lint finding whose severity the size of its table raised (or lowered)."""

    rule: str
    revision: str | None
    statement: str | None
    was: str
    now: str
    why: str


@dataclass(frozen=True)
class LivePlan:
    """A plan's view of the live database: the tables its statements touch, their size
    and lock holders, and the findings whose severity that changed."""

    source: str  # where the figures come from
    tables: list[TableFacts] = field(default_factory=list)
    statements: list[StatementTables] = field(default_factory=list)
    severity_changes: list[SeverityChange] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)
    problem: str | None = None  # why the figures could not be read (the plan still stands)
