"""What ``adopt``, ``drift`` and ``diff`` return (their ``--json`` documents), and
their text for people."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from runner.adopt.diff import Change


@dataclass(frozen=True)
class AdoptResult:
    """``adopt``: the baseline written and where the live database now stands."""

    project: str
    url: str
    revision: str
    files: list[str]
    objects: dict[str, int]  # kind -> how many the baseline creates
    unrendered: list[str]  # objects named in a comment only (their definition is hidden)
    fingerprint: str
    target: str | None = None


@dataclass(frozen=True)
class DriftResult:
    """``drift``: one target's schema against what its migrations make."""

    project: str
    url: str
    revisions: list[str]  # where the live database is
    drifted: bool
    method: str  # "fingerprint": the digests matched; "replica": compared with one
    changes: list[Change] = field(default_factory=list)
    fingerprint: str = ""  # the live schema's
    recorded_fingerprint: str | None = None  # the newest in the change log
    note: str = ""
    target: str | None = None


@dataclass(frozen=True)
class DiffResult:
    """``diff``: the schema differences from one target to another."""

    project: str
    source: str  # --from
    destination: str  # --to
    same: bool
    changes: list[Change] = field(default_factory=list)
    target: str | None = None


def who(result: DriftResult | AdoptResult) -> str:
    return f"{result.project}@{result.target}" if result.target else result.project


def adopt_text(result: AdoptResult) -> str:
    counts = ", ".join(f"{n} {kind}(s)" for kind, n in sorted(result.objects.items()))
    lines = [f"{who(result)}: adopted as baseline {result.revision} ({counts or 'no objects'})",
             *[f"  wrote {f}" for f in result.files],
             f"  stamped {result.url} at {result.revision}; schema fingerprint"
             f" {result.fingerprint[:16]}"]  # fmt: skip
    lines += [f"  not rendered: {item}" for item in result.unrendered]
    lines.append(f"  review the baseline, commit it, then: runner drift {result.project}")
    return "\n".join(lines)


def drift_text(results: Sequence[DriftResult]) -> str:
    lines = []
    for r in results:
        at = ",".join(r.revisions) or "base"
        if not r.drifted:
            how = "fingerprint matches the change log" if r.method == "fingerprint" else (
                "matches a replica of its migrations")  # fmt: skip
            lines.append(f"{who(r)}: no drift at {at} ({how})")
        else:
            lines.append(f"{who(r)}: DRIFT at {at}: {len(r.changes)} object(s) changed outside"
                         " the migrations")  # fmt: skip
            lines += _changes(r.changes)
        if r.note:
            lines.append(f"  note: {r.note}")
    return "\n".join(lines)


def diff_text(result: DiffResult) -> str:
    if result.same:
        return f"{result.project}: {result.source} and {result.destination} have the same schema"
    lines = [f"{result.project}: from {result.source} to {result.destination},"
             f" {len(result.changes)} object(s) differ"]  # fmt: skip
    return "\n".join(lines + _changes(result.changes))


def _changes(changes: Sequence[Change]) -> list[str]:
    lines = []
    for change in changes:
        lines.append(f"  {change.object} {change.change}")
        lines += [f"    {detail}" for detail in change.details]
    return lines
