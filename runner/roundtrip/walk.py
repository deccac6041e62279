"""``runner test``: prove each revision upgrades, downgrades without trace, and re-upgrades.

On a throw-away database (see :mod:`runner.db.scratch`) the history is walked from
base to the heads one revision at a time, parents before children. For each
revision R, with S_before the schema reflected before it:

1. ``upgrade``: apply R alone; reflect S_after;
2. ``downgrade``: revert R alone;
3. ``schema-after-downgrade``: the reflected schema must equal S_before (a
   downgrade must leave no trace: no table, column, index or constraint left
   behind or lost);
4. ``re-upgrade``: apply R again; it must succeed and give S_after again.

The first failing step ends the walk: the database is then in a state no later
revision was written for, so the remaining revisions are reported as skipped.

Cost is what the issue's benchmark measures (benchmarks/bench_roundtrip.py):
the revision map is built once (``ProjectEnv.script``; ``alembic.command``
would rebuild it on every call), and the whole walk is one pass through env.py
on one connection in one transaction, with the checks made by the ``on_step``
hook between steps. On SQLite a snapshot is one catalog query and nothing is
reflected unless two snapshots differ (:mod:`runner.roundtrip.schema`), and the
throw-away file is not synced to disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from alembic.runtime.migration import MigrationContext, MigrationInfo, RevisionStep
from alembic.script import Script
from sqlalchemy.engine import URL, Connection

from runner.db import scratch
from runner.db.backends import backend
from runner.db.target import Target, parse_url
from runner.errors import MigrationFailed
from runner.output import junit
from runner.output.results import CaseStatus, describe_revs
from runner.output.tool_results import RoundTripCase, RoundTripResult
from runner.project.environment import ProjectEnv
from runner.project.revisions import down_revisions
from runner.roundtrip.schema import Memo, Snapshot, compare, take
from runner.run.envpass import run_env
from runner.run.session import open_connection, read_current

UPGRADE = "upgrade"
DOWNGRADE = "downgrade"
SCHEMA_AFTER_DOWNGRADE = "schema-after-downgrade"
RE_UPGRADE = "re-upgrade"


# --- the walk ----------------------------------------------------------------


class _StepFailed(Exception):
    """One step of one case failed: which revision and step, why, and the schema diff if any."""

    def __init__(
        self, script: Script, step: str, error: str, diff_lines: Sequence[str] = ()
    ) -> None:
        super().__init__(error)
        self.script = script
        self.step = step
        self.error = error
        self.diff = list(diff_lines)


@dataclass
class _Walk:
    """One walk over the history, run as a single pass through env.py.

    The plan is every revision's three steps in a row (upgrade, downgrade,
    upgrade again), handed to Alembic as one list of steps; ``on_step`` is
    called by Alembic after each step, inside the transaction, and reflects and
    compares there. One pass instead of three per revision saves re-running
    env.py and re-walking the revision map 300 times on a 100-revision history.
    """

    penv: ProjectEnv
    order: Sequence[Script]
    ignore: frozenset[str]
    schema: Snapshot = field(default_factory=lambda: Snapshot({}))  # before the current revision
    after: Snapshot = field(default_factory=lambda: Snapshot({}))  # ... after its first upgrade
    memo: Memo = field(default_factory=dict)  # reflected elements, shared by the comparisons
    done: int = 0  # steps applied (and checked) so far
    passed: list[RoundTripCase] = field(default_factory=list)
    clock: float = field(default_factory=time.perf_counter)
    plan: list[tuple[Script, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.plan = [(s, phase) for s in self.order for phase in (UPGRADE, DOWNGRADE, RE_UPGRADE)]

    def steps(self) -> list[RevisionStep]:
        """The plan as Alembic steps: one revision each, no destination to resolve.

        Built directly because a destination cannot always name "just this
        revision": ``R@-1`` is an ambiguous walk at a merge point. Alembic's
        head bookkeeping handles branches, merges and dependencies per step.
        """
        revision_map = self.penv.script.revision_map
        return [RevisionStep(revision_map, s, phase != DOWNGRADE) for s, phase in self.plan]

    def on_step(self, ctx: MigrationContext, _step: MigrationInfo, _heads: tuple[str, ...]) -> None:
        """After each step: reflect, compare where the step calls for it, record the case."""
        script, phase = self.plan[self.done]
        self.done += 1
        assert ctx.connection is not None  # online mode only
        schema = take(ctx.connection, self.ignore)
        if phase == UPGRADE:
            self.after = schema
            return
        if phase == DOWNGRADE:
            self._require_same(script, SCHEMA_AFTER_DOWNGRADE, self.schema, schema)
            return
        self._require_same(script, RE_UPGRADE, self.after, schema)
        self.schema = schema
        now = time.perf_counter()
        self.passed.append(_case_result(script, CaseStatus.PASSED, now - self.clock))
        self.clock = now

    def _require_same(
        self, script: Script, step: str, expected: Snapshot, actual: Snapshot
    ) -> None:
        changes = compare(expected, actual, self.memo)
        if changes:
            more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
            raise _StepFailed(script, step, f"{_HEADLINES[step]}: {changes[0]}{more}", changes)

    def run(self, connection: Connection) -> _StepFailed | None:
        """Walk the whole plan in one transaction; the first failure, if any."""
        with connection.begin():
            self.schema = take(connection, self.ignore)
        self.clock = time.perf_counter()
        try:
            with connection.begin():
                run_env(
                    self.penv,
                    lambda _rev, _ctx: self.steps(),
                    connection,
                    on_step=self.on_step,
                    destination_rev="heads",
                )
        except MigrationFailed as exc:
            if isinstance(exc.__cause__, _StepFailed):
                return exc.__cause__
            script, phase = self.plan[self.done]
            return _StepFailed(script, phase, exc.message)
        return None


_HEADLINES = {
    SCHEMA_AFTER_DOWNGRADE: "downgrade left the schema different from before the upgrade",
    RE_UPGRADE: "upgrading again gave a different schema than the first upgrade",
}


def walk_order(penv: ProjectEnv) -> list[Script]:
    """Every revision, parents before children (``walk_revisions`` gives heads first)."""
    return list(reversed(list(penv.script.walk_revisions())))


def _case_result(
    script: Script, status: CaseStatus, seconds: float = 0.0, **kw: object
) -> RoundTripCase:
    return RoundTripCase(
        revision=script.revision,
        down_revisions=down_revisions(script),
        message=(script.doc or "").strip(),
        status=status,
        seconds=round(seconds, 4),
        **kw,  # type: ignore[arg-type]
    )


def roundtrip(penv: ProjectEnv, database_url: str | URL) -> RoundTripResult:
    """Round-trip every revision of ``penv``'s project on the empty database ``database_url``."""
    if isinstance(database_url, URL):
        database_url = database_url.render_as_string(hide_password=False)
    url = parse_url(database_url, "--url", project=penv.name)
    penv = penv.pointed_at(Target(url, "--url"))
    order = walk_order(penv)  # builds the revision map, once
    started = time.perf_counter()
    with open_connection(penv) as connection:
        _no_durability(connection)
        current, version_table = read_current(penv, connection)
        if current:
            raise MigrationFailed(
                f"the throw-away database is not empty (at {describe_revs(current)})",
                project=penv.name,
            )
        walk = _Walk(penv, order, frozenset({version_table or ""}))
        failure = walk.run(connection)
    cases = _cases(walk, failure)
    return RoundTripResult(
        project=penv.name,
        url=penv.target.display,
        dialect=penv.target.url.get_backend_name(),
        passed=failure is None,
        cases=cases,
        seconds=round(time.perf_counter() - started, 3),
    )


def _no_durability(connection: Connection) -> None:
    """On SQLite, stop syncing the throw-away file to disk at each of the ~600 commits.

    Transactions and rollback behave the same (the journal is kept in memory);
    only durability across a crash goes, which a database dropped at the end of
    the run does not need. Set on the driver connection: the runner's SQLite
    engine would wrap a statement in BEGIN, and journal_mode cannot change there.
    """
    pragmas = backend(connection.dialect.name).scratch_pragmas
    if not pragmas:
        return
    cursor = connection.connection.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _cases(walk: _Walk, failure: _StepFailed | None) -> list[RoundTripCase]:
    """Passed cases, then the failed one, then the rest as skipped."""
    cases = list(walk.passed)
    if failure is None:
        return cases
    cases.append(
        _case_result(
            failure.script,
            CaseStatus.FAILED,
            time.perf_counter() - walk.clock,
            step=failure.step,
            error=failure.error,
            diff=failure.diff,
        )
    )
    reason = f"not run: {failure.script.revision} failed first"
    cases += [_case_result(s, CaseStatus.SKIPPED, error=reason) for s in walk.order[len(cases) :]]
    return cases


# --- output --------------------------------------------------------------------


def junit_suites(results: Sequence[RoundTripResult]) -> list[junit.Suite]:
    """For JUnit XML: one testsuite per project, one testcase per revision."""
    return [
        junit.Suite(
            f"{result.project} ({result.dialect})", [_junit_case(result, c) for c in result.cases]
        )
        for result in results
    ]


def _junit_case(result: RoundTripResult, case: RoundTripCase) -> junit.Case:
    name = f"{describe_revs(case.down_revisions)} -> {case.revision}"
    if case.message:
        name += f" {case.message}"
    classname = f"roundtrip.{result.project}"
    if case.status == CaseStatus.FAILED:
        return junit.Case(
            classname,
            name,
            case.seconds,
            failures=[
                junit.Failure(
                    f"{case.step}: {case.error}", case.step or "failure", "\n".join(case.diff)
                )
            ],
        )
    if case.status == CaseStatus.SKIPPED:
        return junit.Case(classname, name, case.seconds, skipped=case.error or "skipped")
    return junit.Case(classname, name, case.seconds)


def run_tests(
    penvs: Sequence[ProjectEnv],
    kind: str,
    server_url: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> list[RoundTripResult]:
    """Round-trip each project on its own fresh database of backend ``kind``.

    One server (or container) serves the whole run; each project gets a new
    database, dropped afterwards, so projects cannot see each other's tables.
    """
    results = []
    with scratch.scratch_server(kind, server_url, environ) as server:
        for penv in penvs:
            with server.database() as url:
                results.append(roundtrip(penv, url))
    return results
