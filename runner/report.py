"""Render command results: text for people, JSON for machines.

Every ``--json`` document has the same envelope::

    {"schema_version": 1, "command": "<verb>", "projects": [<result>, ...]}

where each result is the command's dataclass from :mod:`runner.results`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from runner import redact
from runner.results import (
    SCHEMA_VERSION,
    CreatedFiles,
    HistoryResult,
    MigrateResult,
    PlanResult,
    ProjectInfo,
    RevisionInfo,
    StatusResult,
)


def to_json(command: str, results: Sequence[Any]) -> str:
    """The JSON envelope for ``results`` (scrubbed of secrets, like all output)."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "projects": [asdict(result) for result in results],
    }
    return redact.scrub(json.dumps(document, indent=2, sort_keys=False))


def _revs(revs: Sequence[str]) -> str:
    return ", ".join(revs) if revs else "base"


def _revision_line(info: RevisionInfo) -> str:
    marks = [m for m, on in (("head", info.is_head), ("merge", info.is_merge)) if on]
    marks += [f"branch {label}" for label in info.branch_labels]
    suffix = f" ({', '.join(marks)})" if marks else ""
    return f"{_revs(info.down_revisions)} -> {info.revision}{suffix}  {info.message}"


def text(result: Any) -> str:
    """Human-readable rendering of one result."""
    if isinstance(result, ProjectInfo):
        return (
            f"{result.project}: {result.revisions} revision(s), head {_revs(result.heads)}\n"
            f"  database  {result.url}  ({result.url_source})"
        )
    if isinstance(result, StatusResult):
        pending = f"{len(result.pending)}"
        if result.pending:
            pending += f" ({', '.join(result.pending)})"
        state = "up to date" if result.up_to_date else "NOT up to date"
        lines = [
            f"{result.project}: {state}",
            f"  database  {result.url}  ({result.url_source})",
            f"  current   {_revs(result.current)}",
            f"  heads     {_revs(result.heads)}",
            f"  pending   {pending}",
        ]
        if result.problem:
            lines.append(f"  problem   {result.problem}")
        return "\n".join(lines)
    if isinstance(result, MigrateResult):
        if result.before == result.after and not result.steps:
            return f"{result.project}: nothing to do, database at {_revs(result.after)}"
        lines = [
            f"{result.project}: {result.action} {_revs(result.before)} -> {_revs(result.after)}"
        ]
        lines += [f"  {_revision_line(step)}" for step in result.steps]
        return "\n".join(lines)
    if isinstance(result, PlanResult):
        header = (
            f"-- {result.project}: {len(result.revisions)} pending revision(s) on {result.url}"
            f" ({result.dialect}), {_revs(result.before)} -> {_revs(result.after)}"
        )
        if not result.revisions:
            return header + "\n-- nothing to apply"
        lines = [header] + [f"--   {_revision_line(r)}" for r in result.revisions]
        return "\n".join(lines) + "\n" + result.sql.rstrip()
    if isinstance(result, HistoryResult):
        if not result.revisions:
            return f"{result.project}: no revisions yet"
        return "\n".join(_revision_line(r) for r in result.revisions)
    if isinstance(result, CreatedFiles):
        what = f"revision {result.revision}" if result.revision else f"project {result.project}"
        return "\n".join([f"created {what}:"] + [f"  {f}" for f in result.files])
    raise TypeError(f"no text rendering for {type(result).__name__}")
