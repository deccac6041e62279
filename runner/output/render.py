"""Render command results: text for people, JSON for machines, markdown for reviews.

Every ``--json`` document has the same envelope::

    {"schema_version": 1, "command": "<verb>", "projects": [<result>, ...]}

where each result is the command's dataclass from :mod:`runner.results`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

from runner.output import redact
from runner.output.results import (
    SCHEMA_VERSION,
    CaseStatus,
    CreatedFiles,
    Direction,
    HistoryResult,
    LintResult,
    LogResult,
    MigrateResult,
    PlanResult,
    ProjectInfo,
    RevisionInfo,
    RoundTripResult,
    RowState,
    StatusResult,
    VerifyResult,
    describe_revs,
)


def to_json(command: str, results: Sequence[Any]) -> str:
    """The JSON envelope for ``results`` (scrubbed of secrets, like all output)."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "projects": [asdict(result) for result in results],
    }
    return redact.scrub(json.dumps(document, indent=2, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat() + "Z"  # stored as naive UTC
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _revision_line(info: RevisionInfo) -> str:
    marks = [m for m, on in (("head", info.is_head), ("merge", info.is_merge)) if on]
    marks += [f"branch {label}" for label in info.branch_labels]
    suffix = f" ({', '.join(marks)})" if marks else ""
    return f"{describe_revs(info.down_revisions)} -> {info.revision}{suffix}  {info.message}"


_OUTCOMES = {
    RowState.SUCCEEDED: "ok",
    RowState.STARTED: "started",  # closed by the row after it
    RowState.RECORDED: "recorded",
}


def _log_line(entry: Any) -> str:
    state = entry.state or (RowState.SUCCEEDED if entry.success else RowState.FAILED)
    outcome = _OUTCOMES.get(state) or f"{str(state).upper()}: {entry.error}"
    who = entry.ci_identity or entry.os_user
    commit = entry.git_commit[:12] if entry.git_commit else "-"
    if entry.plan_digest:
        commit += f" plan {entry.plan_digest[:12]}"
    return (
        f"{entry.finished_at:%Y-%m-%d %H:%M:%S}  {entry.direction:<10} {entry.revision:<14}"
        f" {entry.duration_ms:>6}ms  {who} @{commit}  {entry.description}  {outcome}"
    )


def _project_text(result: ProjectInfo) -> str:
    if result.problem:
        return f"{result.project}: cannot be read\n  problem   {result.problem}"
    return (
        f"{result.project}: {result.revisions} revision(s), head {describe_revs(result.heads)}\n"
        f"  database  {result.url}  ({result.url_source})"
    )


def _status_text(result: StatusResult) -> str:
    pending = f"{len(result.pending)}"
    if result.pending:
        pending += f" ({', '.join(result.pending)})"
    state = "up to date" if result.up_to_date else "NOT up to date"
    lines = [
        f"{result.project}: {state}",
        f"  database  {result.url}  ({result.url_source})",
        f"  current   {describe_revs(result.current)}",
        f"  heads     {describe_revs(result.heads)}",
        f"  pending   {pending}",
    ]
    if result.problem:
        lines.append(f"  problem   {result.problem}")
    return "\n".join(lines)


def _migrate_text(result: MigrateResult) -> str:
    if result.before == result.after and not result.steps:
        return f"{result.project}: nothing to do, database at {describe_revs(result.after)}"
    moved = f"{describe_revs(result.before)} -> {describe_revs(result.after)}"
    lines = [f"{result.project}: {result.action} {moved}"]
    if result.action == Direction.DOWNGRADE:  # each step as it ran: from the revision down
        lines += [
            f"  {step.revision} -> {describe_revs(step.down_revisions)}  {step.message}"
            for step in result.steps
        ]
    else:
        lines += [f"  {_revision_line(step)}" for step in result.steps]
    return "\n".join(lines)


def _finding_line(finding: Any) -> str:
    where = f" in {finding.revision}" if finding.revision else ""
    accepted = f" (accepted: {finding.reason})" if finding.accepted else ""
    return f"{finding.severity} {finding.rule}{where}: {finding.message}{accepted}"


def _plan_text(result: PlanResult) -> str:
    header = (
        f"-- {result.project}: {len(result.revisions)} pending revision(s) on {result.url}"
        f" ({result.dialect}), {describe_revs(result.before)} -> {describe_revs(result.after)}"
    )
    if not result.revisions:
        return header + "\n-- nothing to apply"
    lines = [header] + [f"--   {_revision_line(r)}" for r in result.revisions]
    lines += [
        f"-- warning: the SQL of {rev} is not shown: it cannot be rendered offline: {why}"
        for rev, why in result.unrendered.items()
    ]
    lines += [f"-- lint: {_finding_line(f)}" for f in result.findings]
    return "\n".join(lines) + "\n" + result.sql.rstrip()


_SEVERITY_MARK = {"error": "❌", "warning": "⚠️", "info": "💬"}


def plan_markdown(results: Sequence[PlanResult]) -> str:
    """Plans as a merge-request comment: per target, revisions, findings and the SQL."""
    parts = ["## Database plan", ""]
    for result in results:
        title = f"### `{result.project}` on `{result.url}` ({result.dialect})"
        parts += [title, ""]
        if not result.revisions:
            parts += [f"Up to date at `{describe_revs(result.before)}`: nothing to apply.", ""]
            continue
        open_errors = [f for f in result.findings if f.severity == "error" and not f.accepted]
        parts += [
            f"From `{describe_revs(result.before)}` to `{describe_revs(result.after)}`:"
            f" {len(result.revisions)} revision(s), {len(open_errors)} unaccepted lint error(s).",
            "",
            "| revision | down revision(s) | message |",
            "|---|---|---|",
        ]
        parts += [
            f"| `{r.revision}` | `{describe_revs(r.down_revisions)}` | {_cell(r.message)} |"
            for r in result.revisions
        ]
        if result.unrendered:
            parts += [""] + [
                f"> ⚠️ The SQL of `{rev}` is not shown: it cannot be rendered offline: {_cell(why)}"
                for rev, why in result.unrendered.items()
            ]
        if result.findings:
            parts += [
                "",
                "| | rule | revision | finding | accepted because |",
                "|---|---|---|---|---|",
            ]
            parts += [
                f"| {_SEVERITY_MARK.get(f.severity, f.severity)} {f.severity} | `{f.rule}` |"
                f" `{f.revision or '-'}` | {_cell(f.message)} |"
                f" {_cell(f.reason) if f.accepted and f.reason else ''} |"
                for f in result.findings
            ]
        parts += ["", "<details><summary>SQL</summary>", "", "```sql", result.sql.strip(), "```",
                  "", "</details>", ""]  # fmt: skip
    return redact.scrub("\n".join(parts))


def _cell(text: str | None) -> str:
    """Text safe inside a markdown table cell."""
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _history_text(result: HistoryResult) -> str:
    if not result.revisions:
        return f"{result.project}: no revisions yet"
    return "\n".join(_revision_line(r) for r in result.revisions)


def _verify_text(result: VerifyResult) -> str:
    state = "ok" if result.ok else "FAILED"
    lines = [f"{result.project}: verify {state}, {result.checked} applied revision(s) checked"]
    lines += [f"  problem  {p.kind} {p.revision} {p.path}: {p.message}" for p in result.problems]
    lines += [f"  warning  {w.kind} {w.revision} {w.path}: {w.message}" for w in result.warnings]
    return "\n".join(lines)


def _log_text(result: LogResult) -> str:
    if not result.entries:
        return f"{result.project}: the change log is empty"
    return "\n".join(_log_line(e) for e in result.entries)


def _created_text(result: CreatedFiles) -> str:
    what = f"revision {result.revision}" if result.revision else f"project {result.project}"
    return "\n".join([f"created {what}:"] + [f"  {f}" for f in result.files])


def text(result: Any) -> str:
    """Human-readable rendering of one result."""
    renderer = _RENDERERS.get(type(result))
    if renderer is None:
        raise TypeError(f"no text rendering for {type(result).__name__}")
    return renderer(result)


def _roundtrip_text(result: RoundTripResult) -> str:
    """``test``: a verdict line, then one line per revision (failures with their diff)."""
    failed = [c for c in result.cases if c.status == CaseStatus.FAILED]
    verdict = "FAILED" if failed else "ok"
    lines = [
        f"{result.project}: round trip on {result.dialect}, {len(result.cases)} revision(s):"
        f" {verdict} ({result.seconds:.2f}s)"
    ]
    for case in result.cases:
        where = f"{describe_revs(case.down_revisions)} -> {case.revision}  {case.message}".rstrip()
        if case.status == CaseStatus.PASSED:
            lines.append(f"  ok       {where}")
        elif case.status == CaseStatus.SKIPPED:
            lines.append(f"  skipped  {where}  ({case.error})")
        else:
            lines.append(f"  FAILED   {where}")
            lines.append(f"           at {case.step}: {case.error}")
            if len(case.diff) > 1:  # a single difference is already in the error
                lines += [f"             {line}" for line in case.diff]
    return "\n".join(lines)


def _lint_text(result: LintResult) -> str:
    """``lint``: one line per finding (``project revision severity rule message``), then a total."""
    lines = []
    for item in result.findings:
        accepted = f" [accepted: {item.reason}]" if item.accepted else ""
        lines.append(
            f"{result.project} {item.revision or '-'} {item.severity} {item.rule}"
            f" {item.message}{accepted}"
        )
    counts = {
        severity: sum(1 for f in result.findings if f.severity == severity and not f.accepted)
        for severity in ("error", "warning", "info")
    }
    accepted_count = sum(1 for f in result.findings if f.accepted)
    verdict = "ok" if result.ok else "FAILED"
    lines.append(
        f"{result.project}: lint {verdict} ({result.dialect}, {len(result.revisions)} revision(s)):"
        f" {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info,"
        f" {accepted_count} accepted"
    )
    return "\n".join(lines)


_RENDERERS: dict[type, Callable[[Any], str]] = {
    LintResult: _lint_text,
    ProjectInfo: _project_text,
    StatusResult: _status_text,
    MigrateResult: _migrate_text,
    PlanResult: _plan_text,
    HistoryResult: _history_text,
    VerifyResult: _verify_text,
    LogResult: _log_text,
    CreatedFiles: _created_text,
    RoundTripResult: _roundtrip_text,
}
