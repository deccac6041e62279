"""Results of the verbs that look at projects and their history (``list``, ``history``,
``heads``, ``current``, ``branches``, ``show``); ``log``'s are in
:mod:`runner.output.log_results`.

Kept apart from :mod:`runner.output.results` only for start-up time: building a
dataclass costs about 0.4 ms, and ``upgrade`` and ``status`` need none of these. The
same rules hold (their JSON shape is versioned by ``results.SCHEMA_VERSION``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.output.results import RevisionInfo


@dataclass(frozen=True)
class ProjectInfo:
    """``list``: a project as found on disk (no database access)."""

    project: str
    path: str
    url: str
    url_source: str
    revisions: int
    heads: list[str]
    problem: str | None = None  # why the project could not be read
    dialect: str | None = None  # declared in its targets.toml
    targets: list[str] = field(default_factory=list)  # declared environments and groups


@dataclass(frozen=True)
class HistoryResult:
    """``history``, ``heads``, ``current`` and ``branches``: revisions, newest first.

    ``current`` is where the database is, when the command asked it (``None`` when
    it did not: ``heads``)."""

    project: str
    revisions: list[RevisionInfo]
    current: list[str] | None = None
    kind: str = "history"  # which verb: decides the text rendering


@dataclass(frozen=True)
class RevisionDetail:
    """``show``: one revision, all the runner knows about it without a database."""

    project: str
    revision: RevisionInfo
    checksum: str
    files: list[str]  # the .py file and its paired .sql files, relative to the project
    depends_on: list[str]
    children: list[str]
