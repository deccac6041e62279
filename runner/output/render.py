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
from typing import TYPE_CHECKING, Any

from runner.output import redact
from runner.output.results import (
    SCHEMA_VERSION,
    CaseStatus,
    Direction,
    LintResult,
    LockSession,
    MigrateResult,
    PlanResult,
    RevisionInfo,
    RowState,
    StatusResult,
    VerifyResult,
    describe_revs,
    human_bytes,
)

if TYPE_CHECKING:  # not imported at run time: upgrade and status never render them
    from runner.output.inspect_results import HistoryResult, ProjectInfo, RevisionDetail
    from runner.output.live_results import SeverityChange
    from runner.output.log_results import LogResult
    from runner.output.tool_results import CreatedFiles, RepairResult, RoundTripResult


def to_json(
    command: str,
    results: Sequence[Any],
    error: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
) -> str:
    """The JSON envelope for ``results`` (scrubbed of secrets, like all output); ``error``
    says why a command stopped before it had results; ``summary`` is a run over several
    targets (see :func:`fleet_summary`)."""
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "projects": [asdict(result) for result in results],
    }
    if summary is not None:
        document["summary"] = summary
    if error is not None:
        document["error"] = error
    return redact.scrub(json.dumps(document, indent=2, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat() + "Z"  # stored as naive UTC
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def who(result: Any) -> str:
    """``billing@prod`` for a result on a declared target, else the project."""
    target = getattr(result, "target", None)
    return f"{result.project}@{target}" if target else str(result.project)


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


# Colour on a terminal, plain when piped or when NO_COLOR is set (set by the CLI).
COLOUR = False
_COLOURS = {"good": "green", "behind": "yellow", "bad": "red"}


def paint(text: str, tone: str) -> str:
    """``text`` coloured for its tone (good, behind, bad) when colour is on."""
    if not COLOUR:
        return text
    import click

    return click.style(text, fg=_COLOURS[tone], bold=tone == "bad")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell (colour codes not counted), header first."""
    import click

    widths = [max(len(click.unstyle(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [c + " " * (w - len(click.unstyle(c))) for c, w in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


_LOG_HEADER = ("FINISHED (UTC)", "DIRECTION", "REVISION", "TIME", "DB USER", "BY", "COMMIT",
               "DESCRIPTION", "OUTCOME")  # fmt: skip


def _log_cells(entry: Any) -> list[str]:
    state = entry.state or (RowState.SUCCEEDED if entry.success else RowState.FAILED)
    outcome = _OUTCOMES.get(state) or f"{str(state).upper()}: {entry.error}"
    tone = "good" if state in _OUTCOMES else "bad"
    commit = entry.git_commit[:12] if entry.git_commit else "-"
    if entry.plan_digest:
        commit += f" plan {entry.plan_digest[:12]}"
    return [
        f"{entry.finished_at:%Y-%m-%d %H:%M:%S}", entry.direction, entry.revision or "-",
        f"{entry.duration_ms}ms", entry.db_user or "-", entry.ci_identity or entry.os_user,
        commit, entry.description, paint(outcome, tone),
    ]  # fmt: skip


def _project_text(result: ProjectInfo) -> str:
    if result.problem:
        return f"{result.project}: cannot be read\n  problem   {result.problem}"
    lines = [
        f"{result.project}: {result.revisions} revision(s), head {describe_revs(result.heads)}",
        f"  database  {result.url or '-'}  ({result.url_source})",
    ]
    if result.dialect:
        lines.append(f"  dialect   {result.dialect}")
    if result.targets:
        lines.append(f"  targets   {', '.join(result.targets)}")
    return "\n".join(lines)


def _state(result: StatusResult) -> str:
    if result.problem:
        return paint("PROBLEM", "bad")
    return paint("up to date", "good") if result.up_to_date else paint("behind", "behind")


def _last(result: StatusResult) -> str:
    last = result.last_change
    if last is None:
        return "-"
    return f"{last.finished_at:%Y-%m-%d %H:%M} {last.direction} {last.revision} by {last.by}"


def _status_text(result: StatusResult) -> str:
    pending = f"{len(result.pending)}"
    if result.pending:
        pending += f" ({', '.join(result.pending)})"
    state = "up to date" if result.up_to_date else "NOT up to date"
    lines = [
        f"{who(result)}: {paint(state, 'good' if result.up_to_date else 'behind')}",
        f"  database  {result.url}  ({result.url_source})",
        f"  current   {describe_revs(result.current)}",
        f"  heads     {describe_revs(result.heads)}",
        f"  pending   {pending}",
    ]
    if result.last_change is not None:
        db_user = (
            f" (database user {result.last_change.db_user})" if result.last_change.db_user else ""
        )
        lines.append(f"  last      {_last(result)}{db_user}")
    if result.problem:
        lines.append(f"  problem   {paint(result.problem, 'bad')}")
    return "\n".join(lines)


def status_table(results: Sequence[StatusResult]) -> str:
    """``status`` over all projects (and targets): one row each, problems listed under the
    table. A TARGET column appears when a project declares targets."""
    targeted = any(r.target for r in results)
    header = ("PROJECT", *(("TARGET",) if targeted else ()), "STATE", "CURRENT", "HEAD",
              "PENDING", "LAST CHANGE")  # fmt: skip
    rows = [
        [r.project, *((r.target or "-",) if targeted else ()), _state(r),
         describe_revs(r.current) if r.url else "-", describe_revs(r.heads) if r.heads else "-",
         str(len(r.pending)), _last(r)]
        for r in results
    ]  # fmt: skip
    notes = [f"{who(r)}: {paint(r.problem, 'bad')}" for r in results if r.problem]
    return "\n".join([table(header, rows), *notes])


def _migrate_text(result: MigrateResult) -> str:
    if result.before == result.after and not result.steps:
        return f"{who(result)}: nothing to do, database at {describe_revs(result.after)}"
    moved = f"{describe_revs(result.before)} -> {describe_revs(result.after)}"
    if result.lock_timeouts:  # the deploy guard rolled back and retried
        moved += f" (after {result.lock_timeouts} lock timeout(s), retried)"
    lines = [f"{who(result)}: {result.action} {moved}"]
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
    what = "pending revision(s)" if result.action == Direction.UPGRADE else "revision(s) to undo"
    header = (
        f"-- {who(result)}: {len(result.revisions)} {what} on {result.url}"
        f" ({result.dialect}), {describe_revs(result.before)} -> {describe_revs(result.after)}"
    )
    if not result.revisions:
        return header + "\n-- nothing to apply"
    if result.action == Direction.DOWNGRADE:
        lines = [header] + [
            f"--   {r.revision} -> {describe_revs(r.down_revisions)}  {r.message}"
            for r in result.revisions
        ]
    else:
        lines = [header] + [f"--   {_revision_line(r)}" for r in result.revisions]
    lines += [
        f"-- warning: the SQL of {rev} is not shown: it cannot be rendered offline: {why}"
        for rev, why in result.unrendered.items()
    ]
    lines += [f"-- lint: {_finding_line(f)}{_changed(result, f)}" for f in result.findings]
    lines += _live_lines(result)
    return "\n".join(lines) + "\n" + annotated_sql(result).rstrip()


def _changed(result: PlanResult, finding: Any) -> str:
    """`` (raised from warning: orders is large ...)`` for a finding whose severity the
    size of its table changed, else ``""``."""
    change = _change_of(result, finding)
    if change is None:
        return ""
    verb = "raised" if change.now == "error" else "lowered"
    return f" ({verb} from {change.was}: {change.why})"


def _change_of(result: PlanResult, finding: Any) -> SeverityChange | None:
    if result.live is None:
        return None
    return next((c for c in result.live.severity_changes
                 if (c.rule, c.revision, c.statement) == (finding.rule, finding.revision,
                                                          finding.statement)), None)  # fmt: skip


def _live_lines(result: PlanResult) -> list[str]:
    """The live database's figures for the tables the SQL touches, as SQL comments."""
    live = result.live
    if live is None:
        return []
    if live.problem:
        return [f"-- live: the tables' figures could not be read: {live.problem}"]
    if not live.tables:
        return ["-- live: the SQL touches no existing table"]
    lines = [f"-- live ({live.source}):"]
    for table in live.tables:
        lines.append(f"--   {table.name}: {table.size}")
        lines += [f"--     {_session_word(s)} {s.describe()}" for s in table.sessions]
    return lines


def _session_word(session: LockSession) -> str:
    return "waiting:" if session.waiting else "held by"


def annotated_sql(result: PlanResult) -> str:
    """The plan's SQL with a comment after each statement that touches an existing table:
    its figures and its lock holders (the SQL itself, the one a plan file digests, is
    unchanged: these are comments of the display)."""
    live = result.live
    if live is None or not live.statements:
        return result.sql
    tables = {t.name: t for t in live.tables}
    sql, out, position = result.sql, [], 0
    for note in sorted(live.statements, key=lambda n: n.end):
        line_end = sql.find("\n", note.end)
        line_end = len(sql) if line_end < 0 else line_end + 1
        if line_end < position:
            continue
        out.append(sql[position:line_end])
        if not out[-1].endswith("\n"):
            out.append("\n")
        for name in note.tables:
            table = tables[name]
            held = "; ".join(f"{_session_word(s)} {s.describe()}" for s in table.sessions)
            out.append(f"-- live: {name}: {table.size}{'; ' + held if held else ''}\n")
        position = line_end
    out.append(sql[position:])
    return "".join(out)


_SEVERITY_MARK = {"error": "❌", "warning": "⚠️", "info": "💬"}


def plan_markdown(results: Sequence[PlanResult]) -> str:
    """Plans as a merge-request comment: per target, revisions, findings and the SQL."""
    parts = ["## Database plan", ""]
    for result in results:
        title = f"### `{who(result)}` on `{result.url}` ({result.dialect})"
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
                f" `{f.revision or '-'}` | {_cell(f.message + _changed(result, f))} |"
                f" {_cell(f.reason) if f.accepted and f.reason else ''} |"
                for f in result.findings
            ]
        parts += _live_markdown(result)
        parts += ["", "<details><summary>SQL</summary>", "", "```sql",
                  annotated_sql(result).strip(), "```", "", "</details>", ""]  # fmt: skip
    return redact.scrub("\n".join(parts))


def _live_markdown(result: PlanResult) -> list[str]:
    """The tables the SQL touches, as the live database sees them, in a table."""
    live = result.live
    if live is None:
        return []
    if live.problem:
        return ["", f"> ⚠️ The tables' figures could not be read: {_cell(live.problem)}"]
    if not live.tables:
        return []
    rows = [
        f"| `{t.name}` | {'?' if t.rows is None else f'~{t.rows}'} | {human_bytes(t.bytes)} |"
        f" {_cell('; '.join(f'{_session_word(s)} {s.describe()}' for s in t.sessions))} |"
        for t in live.tables
    ]
    return ["", f"Live tables ({live.source}):", "",
            "| table | rows | size | sessions with locks on it |", "|---|---|---|---|",
            *rows]  # fmt: skip


def _cell(text: str | None) -> str:
    """Text safe inside a markdown table cell."""
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _history_text(result: HistoryResult) -> str:
    if result.kind == "current":
        at = describe_revs(result.current or [])
        lines = [f"{result.project}: at {at}"]
        return "\n".join(lines + [f"  {_revision_line(r)}" for r in result.revisions])
    if result.kind == "branches":
        if not result.revisions:
            return f"{result.project}: no branch points (the history is a line)"
        return "\n".join(f"{r.revision} (branch point)  {r.message}" for r in result.revisions)
    if not result.revisions:
        return f"{result.project}: no revisions yet"
    if result.current is None:
        return "\n".join(_revision_line(r) for r in result.revisions)
    # Marked like `alembic history --indicate-current`: * applied, (current) where it is.
    lines = []
    for r in result.revisions:
        mark = paint("*", "good") if r.applied else " "
        here = paint("  <- current", "good") if r.revision in result.current else ""
        lines.append(f"{mark} {_revision_line(r)}{here}")
    lines.append(f"(* applied to {result.project}'s database, at {describe_revs(result.current)})")
    return "\n".join(lines)


def _detail_text(result: RevisionDetail) -> str:
    r = result.revision
    lines = [
        f"{result.project}: revision {r.revision}  {r.message}",
        f"  parents   {describe_revs(r.down_revisions)}",
        f"  children  {', '.join(result.children) or '- (a head)'}",
        f"  files     {', '.join(result.files)}",
        f"  checksum  {result.checksum}",
    ]
    if r.branch_labels:
        lines.append(f"  branch    {', '.join(r.branch_labels)}")
    if result.depends_on:
        lines.append(f"  depends   {', '.join(result.depends_on)}")
    return "\n".join(lines)


def _repair_text(result: RepairResult) -> str:
    if not result.recorded and not result.acknowledged:
        lines = [f"{who(result)}: nothing to repair"]
    else:
        lines = [f"{who(result)}: repair recorded {len(result.recorded)} row(s)"]
        lines += [f"  recorded      {what}" for what in result.recorded]
        if result.acknowledged:
            lines.append(f"  acknowledged  {', '.join(result.acknowledged)} (as they are)")
    return "\n".join([*lines, _verify_text(result.verify)])


def _verify_text(result: VerifyResult) -> str:
    state = "ok" if result.ok else "FAILED"
    lines = [f"{who(result)}: verify {state}, {result.checked} applied revision(s) checked"]
    lines += [f"  problem  {p.kind} {p.revision} {p.path}: {p.message}" for p in result.problems]
    lines += [f"  warning  {w.kind} {w.revision} {w.path}: {w.message}" for w in result.warnings]
    return "\n".join(lines)


def _log_text(result: LogResult) -> str:
    if not result.entries:
        return f"{who(result)}: the change log is empty"
    rows = table(_LOG_HEADER, [_log_cells(e) for e in result.entries])
    return f"{who(result)}:\n{rows}" if result.target else rows


def _created_text(result: CreatedFiles) -> str:
    what = f"revision {result.revision}" if result.revision else f"project {result.project}"
    return "\n".join([f"created {what}:"] + [f"  {f}" for f in result.files])


def text(result: Any) -> str:
    """Human-readable rendering of one result."""
    renderer = _RENDERERS.get(type(result).__name__)
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


# By class name, not class: naming the classes would import every verb's results at
# start-up (see runner.output.inspect_results). Result class names are unique.
_RENDERERS: dict[str, Callable[[Any], str]] = {
    "LintResult": _lint_text,
    "ProjectInfo": _project_text,
    "StatusResult": _status_text,
    "MigrateResult": _migrate_text,
    "PlanResult": _plan_text,
    "HistoryResult": _history_text,
    "VerifyResult": _verify_text,
    "LogResult": _log_text,
    "CreatedFiles": _created_text,
    "RoundTripResult": _roundtrip_text,
    "RevisionDetail": _detail_text,
    "RepairResult": _repair_text,
}


# --- runs over several targets -----------------------------------------------------

_SUMMARY_HEADER = ("PROJECT", "TARGET", "BEFORE", "AFTER", "TIME", "OUTCOME", "ERROR")


def _moved(outcome: Any) -> tuple[str, str]:
    result = outcome.result
    if isinstance(result, MigrateResult):
        return describe_revs(result.before), describe_revs(result.after)
    if isinstance(result, StatusResult):
        return describe_revs(result.current), describe_revs(result.current)
    from runner.output.tool_results import RepairResult  # only a fleet repair gets here

    if isinstance(result, RepairResult):
        current = describe_revs(result.verify.current)
        return current, current
    return "-", "-"


def summary_table(outcomes: Sequence[Any], skipped: Sequence[tuple[str, str]] = ()) -> str:
    """One row per target (project, target, before, after, time, outcome, error), then a
    count, and the targets left out with why."""
    tones = {"ok": "good", "failed": "bad", "not run": "behind"}
    rows = []
    for o in outcomes:
        before, after = _moved(o) if o.state == "ok" else ("-", "-")
        error = (o.error or "").split(": ", 1)[-1] if o.error else ""
        rows.append([o.project, _target_cell(o.target), before, after, f"{o.seconds:.1f}s",
                     paint(o.state, tones[o.state]), error])  # fmt: skip
    counts = fleet_counts(outcomes)
    line = ", ".join(f"{n} {state}" for state, n in counts.items() if n or state == "ok")
    lines = [table(_SUMMARY_HEADER, rows), f"{len(outcomes)} target(s): {line}"]
    lines += [f"skipped {label}: {why}" for label, why in skipped]
    return "\n".join(lines)


def _target_cell(target: str) -> str:
    """A project's only target (``default``), or a project that failed to load, is ``-``."""
    return "-" if target in ("default", "-") else target


def fleet_counts(outcomes: Sequence[Any]) -> dict[str, int]:
    counts = {"ok": 0, "failed": 0, "not run": 0}
    for o in outcomes:
        counts[o.state] += 1
    return counts


def fleet_summary(
    outcomes: Sequence[Any], skipped: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    """The ``summary`` member of a JSON document over several targets."""
    return {
        "targets": len(outcomes),
        **{state.replace(" ", "_"): n for state, n in fleet_counts(outcomes).items()},
        "rows": [
            {"project": o.project, "target": None if _target_cell(o.target) == "-" else o.target,
             "outcome": o.state,
             "before": _moved(o)[0] if o.state == "ok" else None,
             "after": _moved(o)[1] if o.state == "ok" else None,
             "seconds": round(o.seconds, 3), "error": o.error, "exit_code": o.exit_code}
            for o in outcomes
        ],
        "skipped": [{"target": label, "why": why} for label, why in skipped],
    }  # fmt: skip


def status_counts(results: Sequence[StatusResult], unreachable: int) -> str:
    """``tenants: 18 at head, 1 behind, 0 with problems, 1 unreachable``: a fleet at a glance."""
    at_head = sum(1 for r in results if r.up_to_date)
    problems = sum(1 for r in results if r.problem and r.url and r.current is not None and
                   r.verify_problems)  # fmt: skip
    behind = sum(1 for r in results if not r.up_to_date and not r.problem)
    other = len(results) - at_head - behind - problems - unreachable
    parts = [f"{at_head} at head", f"{behind} behind", f"{problems} awaiting repair or review",
             f"{unreachable} unreachable"]  # fmt: skip
    if other > 0:
        parts.append(f"{other} with other problems")
    return f"{len(results)} target(s): " + ", ".join(parts)
