"""Compare what the change log says was applied with what the repository and the
version table hold now, and check the log itself (its chain, key and anchor)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from runner.db.backends import backend
from runner.output.results import Direction, VerifyProblem, VerifyResult
from runner.project.checksums import revision_checksum
from runner.project.revisions import down_revisions, is_known
from runner.run.changelog import KEYED, ChangeLog, LogEntry, chain_problems, digest_before

# Directions after which a revision counts as applied with the row's checksum.
APPLYING = {Direction.UPGRADE, Direction.STAMP, Direction.BASELINE, Direction.REPAIR}
REVERTING = {Direction.DOWNGRADE, Direction.STAMP_DOWN}


def applied_in_repository(script: ScriptDirectory, current: Iterable[str]) -> list[str]:
    """Revisions the database holds according to its version table: the current
    revisions and all their ancestors that the repository knows, base first."""
    seen: set[str] = set()
    order: list[str] = []
    stack = [rev for rev in current if is_known(script, rev)]
    while stack:
        rev = stack.pop()
        if rev in seen:
            continue
        seen.add(rev)
        order.append(rev)
        stack.extend(down_revisions(script.get_revision(rev)))
    return list(reversed(order))


def recorded_checksums(entries_oldest_first: Sequence[LogEntry]) -> dict[str, LogEntry]:
    """Replay the log: for each revision still applied, the row that last recorded it."""
    recorded: dict[str, LogEntry] = {}
    for entry in entries_oldest_first:
        if not entry.success:
            continue
        if entry.direction in APPLYING:
            if entry.checksum:  # an old-style repair row that acknowledged a failure has none
                recorded[entry.revision] = entry
        elif entry.direction in REVERTING:
            recorded.pop(entry.revision, None)
    return recorded


@dataclass(frozen=True)
class LogView:
    """What ``verify`` reads of a change log: its rows (oldest first), whether the table
    exists, the key to check keyed rows with, and facts about the database."""

    entries: Sequence[LogEntry] = ()
    exists: bool = False
    key: bytes | None = None
    key_source: str = ""
    # DDL does not roll back (MySQL): a failed or interrupted run leaves the
    # database in a state nobody checked, and blocks writes until repair.
    blocks_after_failure: bool = False
    anchor: tuple[int, str] | None = None  # (row id, row hash) kept outside the database


def view(log_: ChangeLog, connection: Connection, anchor: tuple[int, str] | None = None) -> LogView:
    """Read ``log_`` on ``connection`` for :func:`check`."""
    entries = log_.entries(connection, newest_first=False)
    return LogView(
        entries=entries,
        exists=bool(entries) or log_.exists(connection),
        key=log_.key,
        key_source=log_.key_source,
        blocks_after_failure=not backend(connection.dialect.name).transactional_ddl,
        anchor=anchor,
    )


def check(
    project: str,
    url: str,
    script: ScriptDirectory,
    current: Sequence[str],
    log: LogView,
    checksum: Callable[[str], str] = revision_checksum,
) -> VerifyResult:
    """Every problem that should stop a write, plus warnings that should not.

    ``checksum`` computes a revision file's checksum (pass a run's memo).
    """
    problems: list[VerifyProblem] = []
    warnings: list[VerifyProblem] = []
    entries = log.entries
    for rev in current:
        if not is_known(script, rev):
            problems.append(VerifyProblem(
                "unknown-database-revision", rev, "",
                f"the database is at {rev}, which this repository does not contain",
            ))  # fmt: skip
    problems += _failed_run(project, entries, log.blocks_after_failure)
    recorded = recorded_checksums(entries)
    applied = applied_in_repository(script, current)
    before_log = _before_the_log(script, entries)
    for rev in applied:
        revision = script.get_revision(rev)
        assert revision is not None
        assert revision.path is not None
        entry = recorded.get(rev)
        actual = checksum(revision.path)
        if entry is None and (before_log is None or rev in before_log):
            warnings.append(VerifyProblem(
                "no-checksum", rev, entry_path(revision.path),
                "applied without a recorded checksum (before the change log, or by plain"
                " alembic); 'repair' records it as a baseline",
            ))  # fmt: skip
        elif entry is None:
            problems.append(VerifyProblem(
                "unlogged", rev, entry_path(revision.path),
                "applied after the change log began, but the log has no row for it (rows"
                " deleted, or applied behind the runner's back)",
            ))  # fmt: skip
        elif entry.checksum != actual:
            problems.append(VerifyProblem(
                "edited", rev, entry.path,
                f"changed since it was applied on {entry.finished_at:%Y-%m-%d %H:%M}"
                f" (recorded {entry.checksum[:12]}, now {actual[:12]})",
            ))  # fmt: skip
    for rev, entry in recorded.items():
        if not is_known(script, rev):
            problems.append(VerifyProblem(
                "missing-file", rev, entry.path,
                "applied, but its file is no longer in the repository",
            ))  # fmt: skip
    if log.exists and not entries and current:
        problems.append(VerifyProblem(
            "log-emptied", "", "",
            f"the change log is empty but the database is at {', '.join(current)}: its rows"
            " were deleted",
        ))  # fmt: skip
    problems += _chain(entries, log.key)
    if log.key is None and any(e.row_hash.startswith(KEYED) for e in entries):
        warnings.append(VerifyProblem(
            "keyed-unchecked", "", "",
            f"the change log is keyed (HMAC) and no key is set: set {log.key_source} to check"
            " its rows",
        ))  # fmt: skip
    if log.anchor is not None:
        problems += _anchor(entries, log.anchor)
    return VerifyResult(
        project=project,
        url=url,
        current=list(current),
        ok=not problems,
        problems=problems,
        warnings=warnings,
        checked=len(applied),
    )


def _failed_run(project: str, entries: Sequence[LogEntry], blocks: bool) -> list[VerifyProblem]:
    """The newest row of a run that failed or was killed, where DDL cannot roll back."""
    newest = next((e for e in reversed(entries) if e.direction != Direction.LOG_CREATED), None)
    if not blocks or newest is None or newest.success or newest.direction == Direction.ACKNOWLEDGE:
        return []
    if newest.kept_nothing:  # a lock timeout before the revision changed anything
        return []
    what = (
        f"stopped during {newest.direction} {newest.revision} (started"
        f" {newest.started_at:%Y-%m-%d %H:%M} UTC; killed?)"
        if newest.in_progress
        else f"failed in {newest.direction} {newest.revision} at"
        f" {newest.finished_at:%Y-%m-%d %H:%M} UTC ({newest.error[:200]})"
    )
    return [VerifyProblem(
        "interrupted-run" if newest.in_progress else "failed-run", newest.revision, newest.path,
        f"the last run {what}; this database cannot roll DDL back, so check it by hand,"
        f" then run: runner repair {project}",
    )]  # fmt: skip


def _before_the_log(script: ScriptDirectory, entries: Sequence[LogEntry]) -> set[str] | None:
    """Revisions applied before the change log began (its ``log-created`` row and their
    ancestors); ``None`` for a log written before such rows existed."""
    created = next((e for e in entries if e.direction == Direction.LOG_CREATED), None)
    if created is None:
        return None
    return set(applied_in_repository(script, [r for r in created.revision.split(",") if r]))


def _chain(entries: Sequence[LogEntry], key: bytes | None) -> list[VerifyProblem]:
    """Chain breaks not acknowledged by the newest ``acknowledge`` row, and old rows
    changed after it."""
    breaks, _ = chain_problems(entries, key)
    acknowledged = next(
        (e for e in reversed(entries) if e.direction == Direction.ACKNOWLEDGE and e.checksum),
        None,
    )
    after = 0
    problems = []
    if acknowledged is not None:
        after = acknowledged.id or 0
        if digest_before(entries, after) != acknowledged.checksum:
            problems.append(VerifyProblem(
                "log-tampered", "", "",
                f"change-log rows before the repair of {acknowledged.finished_at:%Y-%m-%d %H:%M}"
                f" (row {after}) were changed after it",
            ))  # fmt: skip
    for item in breaks:
        if item.row_id > after:
            kind = "log-forged" if item.kind == "unkeyed" else "log-tampered"
            problems.append(VerifyProblem(kind, "", "", item.message))
    return problems


def _anchor(entries: Sequence[LogEntry], anchor: tuple[int, str]) -> list[VerifyProblem]:
    row_id, row_hash = anchor
    found = next((e for e in entries if e.id == row_id), None)
    if found is not None and found.row_hash == row_hash:
        return []
    what = "is gone" if found is None else "has another hash"
    return [VerifyProblem(
        "anchor-mismatch", "", "",
        f"change-log row {row_id}, kept outside the database as {row_hash[:12]}, {what}:"
        " the log was rewritten, truncated or dropped",
    )]  # fmt: skip


def remedy(problem: VerifyProblem, project: str) -> str:
    """What a human does about ``problem`` once they have looked at the database."""
    if problem.kind == "unknown-database-revision":
        return (
            "repair cannot fix that (the revision's file is not here): if it was removed on"
            f" purpose, record where the database really is: runner stamp {project} REV"
            " --purge"
        )
    return f"after review: runner repair {project}"


def entry_path(path: str) -> str:
    """``versions/<file>`` from an absolute revision path, for messages and rows."""
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])
