"""The runner's verbs as plain functions: take a :class:`ProjectEnv`, return a result.

Nothing here prints or parses arguments; :mod:`runner.cli` does that. Every
database-touching command opens one connection, runs env.py inside one
transaction that we own (so SQLite and PostgreSQL roll a failed upgrade back
whole), and reports where the database stands afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alembic.script.revision import RevisionError
from alembic.util import CommandError

from runner.db import locking
from runner.db.target import SizeLimits, Target
from runner.errors import Refused, RevisionProblem, RunnerError
from runner.output.results import (
    Direction,
    LastChange,
    MigrateResult,
    PlanResult,
    StatusResult,
    VerifyResult,
    describe_revs,
)
from runner.project.environment import ProjectEnv
from runner.project.repository import Project
from runner.project.revisions import is_known
from runner.run import changelog, newer, planfile, verify, write
from runner.run.plan import pending_sql
from runner.run.planfile import PlannedTarget
from runner.run.session import open_connection, read_current, read_env
from runner.run.write import DEFAULT_OPTIONS, WriteOptions

if TYPE_CHECKING:  # imported where used: upgrade and status need none of these results
    from runner.output.inspect_results import HistoryResult, ProjectInfo, RevisionDetail
    from runner.output.log_results import LogResult, LogRow
    from runner.output.tool_results import RepairResult

log = logging.getLogger("runner")


# --- helpers -----------------------------------------------------------------


def _require_single_head(penv: ProjectEnv, verb: str) -> None:
    heads = penv.heads()
    if len(heads) > 1:
        raise RevisionProblem(
            f"{len(heads)} heads ({', '.join(heads)}): {verb} needs one; merge them"
            f" (runner merge {penv.name}) or name a target: 'heads' for all, or one of the ids",
            project=penv.name,
        )


# --- read commands -----------------------------------------------------------


def describe_project(penv: ProjectEnv) -> ProjectInfo:
    """``list``: a project's URL and history shape, without touching the database.

    A project that declares a server dialect never runs on the embedded SQLite file:
    when its variable is unset, its URL is shown as not set rather than as that file."""
    from runner.db.backends import backend
    from runner.output.inspect_results import ProjectInfo
    from runner.project import resolve, targets

    declaration = targets.load(penv.project)
    url, source = penv.target.display, penv.target.source
    dialect = declaration.dialect
    if declaration.declares_targets:  # what a command naming no target reaches
        url, source = _default_reach(declaration, penv)
    elif penv.target.embedded and dialect is not None and not backend(dialect).file_based:
        url, source = "", f"not set: {resolve.url_variable(penv.project)}"
    return ProjectInfo(
        project=penv.name,
        path=str(penv.project.path),
        url=url,
        url_source=source,
        revisions=len(list(penv.script.walk_revisions())),
        heads=list(penv.heads()),
        dialect=dialect,
        targets=[*declaration.envs, *(f"{g}/*" for g in declaration.groups)],
    )


def _default_reach(declaration: Any, penv: ProjectEnv) -> tuple[str, str]:
    """URL and source of the target a command naming none reaches (``default = ...``)."""
    from runner.project import targets

    if not declaration.default:
        return "", "no default target: commands name one (--env, --group, --target)"
    try:
        chosen = targets.select(declaration, targets.Choice(), penv.project.root, os.environ,
                                writing=False)  # fmt: skip
        if len(chosen.candidates) != 1:
            return "", f"default = {declaration.default!r}: {len(chosen.candidates)} targets"
        target = chosen.candidates[0].resolve()
    except RunnerError as exc:
        return "", f"default = {declaration.default!r}: {exc.message}"
    return target.display, f"{target.source}, default = {declaration.default!r}"


def history(penv: ProjectEnv, offline: bool = False) -> HistoryResult:
    """``history``: every revision, newest first; the applied ones marked, when the
    database can be asked (it is not, with ``offline``, or when it does not exist yet)."""
    from runner.output.inspect_results import HistoryResult

    scripts = list(penv.script.walk_revisions())
    if offline:
        return HistoryResult(penv.name, [penv.info(s) for s in scripts])
    current = _current(penv)[0]
    applied = set(verify.applied_in_repository(penv.script, current))
    marked = [dataclasses.replace(penv.info(s), applied=s.revision in applied) for s in scripts]
    return HistoryResult(penv.name, marked, current=list(current))


def heads(penv: ProjectEnv) -> HistoryResult:
    """``heads``: the head revisions."""
    from runner.output.inspect_results import HistoryResult

    return HistoryResult(
        penv.name, [penv.info(penv.revision(h)) for h in penv.heads()], kind="heads"
    )


def current(penv: ProjectEnv) -> HistoryResult:
    """``current``: the revision(s) the database is at (Alembic's ``current``)."""
    from runner.output.inspect_results import HistoryResult

    at = _current(penv)[0]
    known = [penv.info(penv.revision(r)) for r in at if is_known(penv.script, r)]
    return HistoryResult(penv.name, known, current=list(at), kind="current")


def branches(penv: ProjectEnv) -> HistoryResult:
    """``branches``: revisions where the history forks, newest first (Alembic's ``branches``)."""
    from runner.output.inspect_results import HistoryResult

    points = [penv.info(s) for s in penv.script.walk_revisions() if s.is_branch_point]
    return HistoryResult(penv.name, points, kind="branches")


def show(penv: ProjectEnv, rev: str) -> RevisionDetail:
    """``show``: one revision (an id, a unique prefix, ``head``), without a database."""
    from runner.output.inspect_results import RevisionDetail

    script = penv.revision(rev)
    assert script.path is not None
    folder = os.path.dirname(script.path)
    stem = os.path.basename(script.path).rsplit(".", 1)[0]
    paired = sorted(
        n for n in os.listdir(folder) if n.startswith(stem + ".") and n.endswith(".sql")
    )
    info = penv.info(script)
    shown_dir = os.path.dirname(info.path)
    return RevisionDetail(
        project=penv.name,
        revision=info,
        checksum=penv.checksum(script.path),
        files=[info.path] + [os.path.join(shown_dir, n) for n in paired],
        depends_on=sorted(script.dependencies or ()),
        children=sorted(script.nextrev),
    )


def _current(penv: ProjectEnv) -> tuple[tuple[str, ...], str | None]:
    """Current revisions and version table; base for a database file not made yet."""
    if penv.target.missing:
        return (), None
    with open_connection(penv) as connection:
        return read_current(penv, connection)


def status(penv: ProjectEnv) -> StatusResult:
    """``status``: current revision(s), heads, what an upgrade to heads would apply, the
    last change and anything ``verify`` would refuse a write for."""
    heads_ = list(penv.heads())
    version_table = None
    last: LastChange | None = None
    problems: list[str] = []
    if penv.target.missing:
        current_: tuple[str, ...] = ()
    else:
        with open_connection(penv) as connection, connection.begin():
            state = read_env(penv, connection)
            current_, version_table = state.current, state.version_table
            log_ = changelog.project_log(penv, state.version_table_schema)
            view = verify.view(log_, connection)
        checked = _verify(penv, current_, view)
        problems = [f"{p.kind} {p.revision}".strip() for p in checked.problems]
        newest = next(
            (
                e
                for e in reversed(view.entries)
                if e.direction not in (Direction.LOG_CREATED, Direction.FINGERPRINT)
            ),
            None,
        )
        if newest is not None:
            last = LastChange(newest.finished_at, newest.direction, newest.revision,
                              newest.ci_identity or newest.os_user, newest.db_user)  # fmt: skip
    problem = None
    try:
        pending = [step.revision.revision for step in penv.upgrade_steps("heads", current_)]
    except (RevisionError, CommandError) as exc:
        pending = []
        problem = (
            f"database revision {describe_revs(current_)} is not reachable in this repository"
            f" ({' '.join(str(exc).split())})"
        )
    if problem is None and problems:
        problem = (
            f"verify would refuse a write: {', '.join(problems)} (see: runner verify {penv.name})"
        )
    return StatusResult(
        project=penv.name,
        url=penv.target.display,
        url_source=penv.target.source,
        version_table=version_table,
        current=list(current_),
        heads=heads_,
        pending=pending,
        up_to_date=not pending and problem is None,
        problem=problem,
        last_change=last,
        verify_problems=problems,
    )


def unlisted(project: Project, problem: str) -> ProjectInfo:
    """A ``list`` row for a project that could not be read (its URL or its revisions)."""
    from runner.output.inspect_results import ProjectInfo

    return ProjectInfo(
        project=project.name, path=str(project.path), url="", url_source="", revisions=0,
        heads=[], problem=problem,
    )  # fmt: skip


def unreadable_status(name: str, target: Target | None, problem: str) -> StatusResult:
    """A ``status`` row for a project whose URL, database or history could not be read."""
    return StatusResult(
        project=name,
        url=target.display if target else "",
        url_source=target.source if target else "",
        version_table=None,
        current=[],
        heads=[],
        pending=[],
        up_to_date=False,
        problem=problem,
    )


def plan(
    penv: ProjectEnv,
    destination: str = "heads",
    downgrade: bool = False,
    with_lint: bool = True,
    sizes: SizeLimits | None = None,
) -> PlanResult:
    """``plan``: the SQL from the database's current revision(s) to ``destination``
    (the heads; or, ``downgrade``, down to a revision: what a rollback would run), with
    the lint findings (and accepted ones, with their reasons) of those revisions, and
    what the live database says of the tables the SQL touches (their size judged by
    ``sizes``: a blocking operation's finding on a large table is an error)."""
    current, version_table = _current(penv)
    pending = pending_sql(penv, current, destination, downgrade)
    steps = pending.steps
    revisions = [penv.info(step.revision) for step in steps]
    planned = {r.revision for r in revisions}
    findings = []
    if with_lint and steps and not downgrade:
        from runner.lint.pipeline import lint  # sqlglot is heavy: only plans with work import it

        # From an empty database to the heads, the plan rendered the whole history: lint
        # checks that SQL instead of rendering it again.
        result = lint(penv, rendered=pending.whole_history)
        findings = [f for f in result.findings if f.revision in planned or f.revision is None]
    facts = None
    if steps and not penv.target.missing and penv.target.backend.table_size_sql:
        from runner.run import live

        limits = sizes or SizeLimits()
        facts = live.read(penv, pending.sql, version_table, limits)
        from runner.lint.rules import grows_with_table

        findings, changes = live.judge(findings, facts, limits, grows_with_table())
        facts = dataclasses.replace(facts, severity_changes=changes)
    return PlanResult(
        project=penv.name,
        url=penv.target.display,
        dialect=penv.target.url.get_backend_name(),
        before=list(current),
        after=_heads_after(current, steps),
        revisions=revisions,
        sql=pending.sql,
        findings=findings,
        unrendered=pending.unrendered,
        checksums={step.revision.revision: penv.checksum(step.revision.path) for step in steps},
        action=Direction.DOWNGRADE if downgrade else Direction.UPGRADE,
        destination=destination,
        live=facts,
    )


def _heads_after(current: Sequence[str], steps: Sequence[Any]) -> list[str]:
    """Where the database will be once ``steps`` ran: each replaces its from-revisions
    by its to-revisions among the current ones."""
    heads = set(current)
    for step in steps:
        heads = (heads - set(step.from_revisions)) | set(step.to_revisions)
    return sorted(heads)


def apply_plan(
    penv: ProjectEnv, planned: PlannedTarget, options: WriteOptions = DEFAULT_OPTIONS
) -> MigrateResult:
    """``apply``: run a saved plan, refusing (exit 4) when anything moved since it was made.

    Checked before the lock: the target URL, every planned revision's checksum,
    the repository's heads (no new revision slipped in) and the rendered SQL.
    Checked under the lock: the database is still at the plan's start.
    """
    name = penv.name
    if penv.target.display != planned.url:
        raise Refused(f"the plan was made for {planned.url}, this run targets"
                      f" {penv.target.display}", project=name)  # fmt: skip
    for rev, checksum in planned.checksums.items():
        try:
            script = penv.revision(rev)
        except RevisionProblem as exc:
            raise Refused(f"revision {rev} of the plan is no longer in the repository",
                          project=name) from exc  # fmt: skip
        assert script.path is not None
        if penv.checksum(script.path) != checksum:
            raise Refused(f"revision {rev} ({penv.info(script).path}) changed since the plan"
                          " was made; make a new plan", project=name)  # fmt: skip
    heads = sorted(penv.heads())
    if planned.destination == "heads" and heads != sorted(planned.end) and planned.checksums:
        raise Refused(f"the repository now ends at {describe_revs(heads)}, the plan at"
                      f" {describe_revs(planned.end)}: new revisions since the plan; make a new"
                      " plan", project=name)  # fmt: skip

    def still_at_start(current: Sequence[str]) -> None:
        if sorted(current) != sorted(planned.start):
            raise Refused(f"the database moved since the plan: it is at"
                          f" {describe_revs(current)}, the plan starts at"
                          f" {describe_revs(planned.start)}; make a new plan",
                          project=name)  # fmt: skip

    if not penv.target.missing:  # the clearest message first; re-checked under the lock
        with open_connection(penv) as connection:
            current, _ = read_current(penv, connection)
        missing = newer.unknown(penv.script, current)
        if missing:
            raise newer.ahead(penv.name, penv.target.name, missing)
        still_at_start(current)
    rendered = pending_sql(penv, tuple(planned.start), planned.destination).sql
    if planfile.sql_digest(rendered) != planned.sql_digest:
        raise Refused("the SQL rendered now differs from the plan's (env.py or a dependency"
                      " changed); make a new plan", project=name)  # fmt: skip

    digest_options = dataclasses.replace(options, plan_digest=planned.digest)
    destination = planned.destination
    return write.run_write(
        penv, Direction.UPGRADE, lambda rev, _ctx: penv.upgrade_steps(destination, rev),
        digest_options, check=True, precheck=still_at_start, destination_rev=destination,
    )  # fmt: skip


# --- writing commands --------------------------------------------------------


def upgrade(
    penv: ProjectEnv, revision: str = "head", options: WriteOptions = DEFAULT_OPTIONS
) -> MigrateResult:
    """``upgrade``: apply revisions up to ``revision`` (default: the single head).

    Refused (exit 4) when ``verify`` finds a problem or a MySQL run failed halfway.
    """
    if revision == "head":
        _require_single_head(penv, "upgrade to 'head'")
    return write.run_write(
        penv, Direction.UPGRADE, lambda rev, _ctx: penv.upgrade_steps(revision, rev), options,
        check=True, destination_rev=revision,
    )  # fmt: skip


def downgrade(
    penv: ProjectEnv, revision: str, options: WriteOptions = DEFAULT_OPTIONS
) -> MigrateResult:
    """``downgrade``: revert to ``revision`` (an id, ``-N`` or ``base``).

    Refused (exit 4) like ``upgrade``: a ``downgrade()`` edited after its
    revision was applied must not run unreviewed either.
    """
    return write.run_write(
        penv, Direction.DOWNGRADE, lambda rev, _ctx: penv.downgrade_steps(revision, rev), options,
        check=True, destination_rev=revision,
    )  # fmt: skip


def stamp(
    penv: ProjectEnv,
    revisions: Sequence[str],
    purge: bool = False,
    options: WriteOptions = DEFAULT_OPTIONS,
) -> MigrateResult:
    """``stamp``: set the version table to ``revisions`` without running anything."""
    for rev in revisions:
        if rev not in {"base", "head", "heads"}:
            penv.revision(rev)  # unknown ids fail here, before any connection
    destination = tuple(revisions)
    return write.run_write(
        penv, Direction.STAMP, lambda rev, _ctx: penv.stamp_steps(destination, rev), options,
        destination_rev=destination, purge=purge,
    )  # fmt: skip


def repair(penv: ProjectEnv, options: WriteOptions = DEFAULT_OPTIONS) -> RepairResult:
    """``repair``: after a human review, accept the database and the log as they are.

    Every applied revision whose recorded checksum differs from its file (or
    has none) gets a ``repair`` (or ``baseline``) row with the file's current
    checksum. A failed MySQL run, broken chain rows, or an emptied log are
    acknowledged by one ``acknowledge`` row holding a digest of every row before
    it, so a row changed after this repair is seen again. Returns what ``verify``
    says afterwards.
    """
    from runner.output.tool_results import RepairResult

    with (
        open_connection(penv, options.lock_timeout) as connection,
        locking.hold(connection, penv.name, options.lock_timeout),
        connection.begin(),
    ):
        state = read_env(penv, connection)
        log_ = changelog.project_log(penv, state.version_table_schema)
        log_.ensure(connection, state.current, acknowledging=True)
        before = _verify(penv, state.current, verify.view(log_, connection))
        unknown = [p for p in before.problems if p.kind == "unknown-database-revision"]
        if unknown:
            raise Refused(
                f"the database is at {unknown[0].revision}, which this repository does not"
                f" contain; {verify.remedy(unknown[0], penv.name)}",
                project=penv.name,
            )
        recorded = verify.recorded_checksums(verify.view(log_, connection).entries)
        now = changelog.utcnow()
        done: list[str] = []
        for rev in verify.applied_in_repository(penv.script, state.current):
            script = penv.revision(rev)
            assert script.path is not None
            checksum = penv.checksum(script.path)
            entry = recorded.get(rev)
            if entry is not None and entry.checksum == checksum:
                continue
            info = penv.info(script)
            direction = Direction.BASELINE if entry is None else Direction.REPAIR
            log_.append(connection, log_.entry(
                revision=rev, down_revisions=info.down_revisions, direction=direction,
                description=info.message, path=info.path, checksum=checksum, started=now,
            ))  # fmt: skip
            done.append(f"{direction} {rev}")
        accepted = sorted({p.kind for p in before.problems if p.kind not in _RE_RECORDED})
        if accepted:
            # Something to accept that re-recording checksums does not: acknowledge it.
            entries = verify.view(log_, connection).entries
            log_.append(connection, log_.entry(
                revision=",".join(state.current), down_revisions=[],
                direction=Direction.ACKNOWLEDGE,
                description="acknowledged by repair: " + ", ".join(accepted),
                path="", checksum=changelog.digest_before(entries, None), started=now,
            ))  # fmt: skip
        after = _verify(penv, state.current, verify.view(log_, connection))
    return RepairResult(penv.name, done, accepted, after)


# Problems that a repair row with the file's checksum resolves by itself.
_RE_RECORDED = {"edited", "unlogged"}


def _verify(penv: ProjectEnv, current: Sequence[str], log: verify.LogView) -> VerifyResult:
    return verify.check(penv.name, penv.target.display, penv.script, current, log, penv.checksum)


def verify_project(penv: ProjectEnv, anchor: tuple[int, str] | None = None) -> VerifyResult:
    """``verify``: applied revisions' recorded checksums against the files on disk, the
    log against the version table, the chain (and, given one, an anchor kept outside)."""
    if penv.target.missing:
        return _verify(penv, (), verify.LogView(anchor=anchor))
    with open_connection(penv) as connection, connection.begin():
        state = read_env(penv, connection)
        log_ = changelog.project_log(penv, state.version_table_schema)
        view = verify.view(log_, connection, anchor)
    return _verify(penv, state.current, view)


def change_history(
    penv: ProjectEnv,
    revision: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int | None = None,
) -> LogResult:
    """``log``: the project's change-log rows, newest first, filtered, each with its state
    (an in-progress row closed by its run reads as ``started``, not as a failure)."""
    from runner.output.log_results import LogResult

    if penv.target.missing:
        return LogResult(penv.name, penv.target.display, [])
    with open_connection(penv) as connection, connection.begin():
        state = read_env(penv, connection)
        log_ = changelog.project_log(penv, state.version_table_schema)
        entries = log_.entries(connection, revision=revision, since=since, until=until, limit=limit)
        following = log_.following(connection, [e.id for e in entries if e.in_progress and e.id])
    shown = [_row(e, changelog.state_of(e, following.get(e.id or 0))) for e in entries]
    return LogResult(penv.name, penv.target.display, shown)


def _row(entry: changelog.LogEntry, state: str) -> LogRow:
    from runner.output.log_results import LogRow

    fields = entry.stored()
    del fields["project"]
    downs = [d for d in entry.down_revisions.split(",") if d]
    return LogRow(**{**fields, "down_revisions": downs, "state": str(state)})
