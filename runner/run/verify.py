"""Compare what the change log says was applied with what the repository holds now."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from alembic.script import ScriptDirectory

from runner.output.results import Direction, VerifyProblem, VerifyResult
from runner.project.checksums import revision_checksum
from runner.project.revisions import down_revisions
from runner.run.changelog import LogEntry, chain_breaks

# Directions after which a revision counts as applied with the row's checksum.
APPLYING = {Direction.UPGRADE, Direction.STAMP, Direction.BASELINE, Direction.REPAIR}
REVERTING = {Direction.DOWNGRADE, Direction.STAMP_DOWN}


def applied_in_repository(script: ScriptDirectory, current: Iterable[str]) -> list[str]:
    """Revisions the database holds according to its version table: the current
    revisions and all their ancestors that the repository knows, base first."""
    seen: set[str] = set()
    order: list[str] = []
    stack = [rev for rev in current if _known(script, rev)]
    while stack:
        rev = stack.pop()
        if rev in seen:
            continue
        seen.add(rev)
        order.append(rev)
        stack.extend(down_revisions(script.get_revision(rev)))
    return list(reversed(order))


def _known(script: ScriptDirectory, rev: str) -> bool:
    try:
        return script.get_revision(rev) is not None
    except Exception:  # alembic raises several kinds for an unknown id
        return False


def recorded_checksums(entries_oldest_first: Sequence[LogEntry]) -> dict[str, LogEntry]:
    """Replay the log: for each revision still applied, the row that last recorded it."""
    recorded: dict[str, LogEntry] = {}
    for entry in entries_oldest_first:
        if not entry.success:
            continue
        if entry.direction in APPLYING:
            if entry.checksum:  # a repair that only acknowledged a failure records none
                recorded[entry.revision] = entry
        elif entry.direction in REVERTING:
            recorded.pop(entry.revision, None)
    return recorded


def check(
    project: str,
    url: str,
    script: ScriptDirectory,
    current: Sequence[str],
    entries_oldest_first: Sequence[LogEntry],
    checksum: Callable[[str], str] = revision_checksum,
) -> VerifyResult:
    """Every problem that should stop an upgrade, plus warnings that should not.

    ``checksum`` computes a revision file's checksum (pass a run's memo).
    """
    problems: list[VerifyProblem] = []
    warnings: list[VerifyProblem] = []
    for rev in current:
        if not _known(script, rev):
            problems.append(VerifyProblem(
                "unknown-database-revision", rev, "",
                f"the database is at {rev}, which this repository does not contain",
            ))  # fmt: skip
    recorded = recorded_checksums(entries_oldest_first)
    applied = applied_in_repository(script, current)
    for rev in applied:
        revision = script.get_revision(rev)
        assert revision is not None
        assert revision.path is not None
        entry = recorded.get(rev)
        actual = checksum(revision.path)
        if entry is None:
            warnings.append(VerifyProblem(
                "no-checksum", rev, entry_path(revision.path),
                "applied without a recorded checksum (before the change log, or by plain"
                " alembic); 'repair' records it as a baseline",
            ))  # fmt: skip
        elif entry.checksum != actual:
            problems.append(VerifyProblem(
                "edited", rev, entry.path,
                f"changed since it was applied on {entry.finished_at:%Y-%m-%d %H:%M}"
                f" (recorded {entry.checksum[:12]}, now {actual[:12]})",
            ))  # fmt: skip
    for rev, entry in recorded.items():
        if not _known(script, rev):
            problems.append(VerifyProblem(
                "missing-file", rev, entry.path,
                "applied, but its file is no longer in the repository",
            ))  # fmt: skip
    for row_id in _breaks_after_last_repair(entries_oldest_first):
        problems.append(VerifyProblem(
            "log-tampered", "", "",
            f"change-log row {row_id} does not match the hash chain (edited or deleted rows)",
        ))  # fmt: skip
    return VerifyResult(
        project=project,
        url=url,
        current=list(current),
        ok=not problems,
        problems=problems,
        warnings=warnings,
        checked=len(applied),
    )


def _breaks_after_last_repair(entries: Sequence[LogEntry]) -> list[int]:
    breaks = chain_breaks(entries)
    repairs = [e.id or 0 for e in entries if e.direction == Direction.REPAIR and e.success]
    after = max(repairs, default=0)
    return [b for b in breaks if b > after]


def entry_path(path: str) -> str:
    """``versions/<file>`` from an absolute revision path, for messages and rows."""
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])
