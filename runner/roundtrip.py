"""``runner test``: prove each revision upgrades, downgrades without trace, and re-upgrades.

On a throw-away database (see :mod:`runner.scratch`) the history is walked from
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
hook between steps. On SQLite, tables whose CREATE statements were seen before
are not reflected again, and the throw-away file is not synced to disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext, MigrationInfo, RevisionStep
from alembic.script import Script
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import CompileError, NotSupportedError

from runner import junit, scratch, targets
from runner.environment import ProjectEnv
from runner.errors import MigrationFailed
from runner.results import RoundTripCase, RoundTripResult
from runner.session import describe_revs, open_connection, read_current

# A reflected schema as comparable plain data:
# object ("table people", "view v", "sequence s") -> element ("column name") -> description.
Schema = dict[str, dict[str, str]]

UPGRADE = "upgrade"
DOWNGRADE = "downgrade"
SCHEMA_AFTER_DOWNGRADE = "schema-after-downgrade"
RE_UPGRADE = "re-upgrade"


class RoundTripFailed(MigrationFailed):
    """At least one revision failed its round trip (exit 1); the report says which."""


# --- reflection --------------------------------------------------------------


def _cols(names: Sequence[str | None]) -> str:
    return ", ".join(str(name) for name in names)


def _type_name(type_: sa.types.TypeEngine[object], dialect: sa.Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except CompileError:  # a reflected type the dialect cannot render back
        return repr(type_)


def _describe_table(
    dialect: sa.Dialect,
    columns: Sequence[dict[str, object]],
    pk: dict[str, object],
    indexes: Sequence[dict[str, object]],
    uniques: Sequence[dict[str, object]],
    fks: Sequence[dict[str, object]],
    checks: Sequence[dict[str, object]],
) -> dict[str, str]:
    """One table's elements: the parts a downgrade could leave behind or lose."""
    elements: dict[str, str] = {}
    for col in columns:
        text = f"{_type_name(col['type'], dialect)} {'NULL' if col['nullable'] else 'NOT NULL'}"  # type: ignore[arg-type]
        if col.get("default") is not None:
            text += f" DEFAULT {col['default']}"
        elements[f"column {col['name']}"] = text
    if pk.get("constrained_columns"):
        elements["primary key"] = f"({_cols(pk['constrained_columns'])})"  # type: ignore[arg-type]
    for ix in indexes:
        names = ix.get("column_names") or []
        exprs = ix.get("expressions") or names
        unique = " UNIQUE" if ix.get("unique") else ""
        elements[f"index {ix['name']}"] = f"({_cols(exprs)}){unique}"  # type: ignore[arg-type]
    for uq in uniques:
        cols = _cols(uq["column_names"])  # type: ignore[arg-type]
        elements[f"unique {uq.get('name') or '(' + cols + ')'}"] = f"({cols})"
    for fk in fks:
        cols = _cols(fk["constrained_columns"])  # type: ignore[arg-type]
        target = f"{fk['referred_table']}({_cols(fk['referred_columns'])})"  # type: ignore[arg-type]
        options = " ".join(f"{k} {v}" for k, v in sorted((fk.get("options") or {}).items()))  # type: ignore[attr-defined]
        elements[f"foreign key {fk.get('name') or '(' + cols + ')'}"] = (
            f"({cols}) -> {target} {options}".rstrip()
        )
    for check in checks:
        elements[f"check {check.get('name') or check['sqltext']}"] = str(check["sqltext"])
    return elements


def reflect(
    connection: Connection,
    ignore: frozenset[str] = frozenset(),
    cache: dict[tuple[str, object], dict[str, str]] | None = None,
) -> Schema:
    """The default schema's tables, views and sequences, minus ``ignore`` (the version table).

    ``cache`` ((table, fingerprint) -> elements) lets repeated reflections skip
    tables whose definition was seen before (unchanged, or back to an earlier
    definition, as after a downgrade and re-upgrade); see :func:`_catalog`. The
    ``get_multi_*`` calls fetch every table at once where the dialect can (one
    query each on PostgreSQL).
    """
    inspector = sa.inspect(connection)
    tables, views, fingerprints = _catalog(connection, inspector)
    cache = {} if cache is None else cache
    names = [name for name in tables if name not in ignore]
    keys = {name: (name, fingerprints.get(name)) for name in names}
    stale = [n for n in names if keys[n][1] is None or keys[n] not in cache]
    fresh = _reflect_tables(inspector, connection.dialect, stale)
    # Without a fingerprint nothing is cached, so nothing stale can be served later.
    cache.update({keys[n]: elements for n, elements in fresh.items() if keys[n][1] is not None})
    schema: Schema = {f"table {n}": fresh[n] if n in fresh else cache[keys[n]] for n in names}
    for view in views:
        schema[f"view {view}"] = {}
    if connection.dialect.supports_sequences:
        try:
            for sequence in inspector.get_sequence_names():
                schema[f"sequence {sequence}"] = {}
        except NotImplementedError:
            pass
    return schema


def _catalog(
    connection: Connection, inspector: sa.Inspector
) -> tuple[list[str], list[str], dict[str, object]]:
    """Table names, view names, and per table a fingerprint of its definition.

    Only SQLite has fingerprints, and they are exact: everything SQLite
    reports about a table (PRAGMA table_info, index_list, foreign_key_list) is
    derived from the CREATE statements in ``sqlite_master``. One query then
    stands in for six per table, which is most of the round trip's time on a
    long history. Other dialects get none, so their tables are always reflected.
    """
    if connection.dialect.name != "sqlite":
        return inspector.get_table_names(), inspector.get_view_names(), {}
    rows = connection.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master").all()
    # The same filters as SQLAlchemy's SQLite get_table_names / get_view_names.
    tables = sorted(r[1] for r in rows if r[0] == "table" and not r[1].startswith("sqlite_"))
    views = sorted(r[1] for r in rows if r[0] == "view")
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    for type_, name, table, sql in rows:
        found.setdefault(table, []).append((type_, name, sql))
    return tables, views, {t: tuple(sorted(items, key=str)) for t, items in found.items()}


def _reflect_tables(
    inspector: sa.Inspector, dialect: sa.Dialect, names: list[str]
) -> dict[str, dict[str, str]]:
    """Elements of each table in ``names``, fetched in bulk."""
    if not names:
        return {}
    columns = inspector.get_multi_columns(filter_names=names)
    pks = inspector.get_multi_pk_constraint(filter_names=names)
    indexes = inspector.get_multi_indexes(filter_names=names)
    uniques = inspector.get_multi_unique_constraints(filter_names=names)
    fks = inspector.get_multi_foreign_keys(filter_names=names)
    checks = _checks(inspector, names)
    return {
        key[1]: _describe_table(
            dialect,
            columns[key],  # type: ignore[arg-type]
            pks.get(key) or {},  # type: ignore[arg-type]
            indexes.get(key, []),  # type: ignore[arg-type]
            uniques.get(key, []),  # type: ignore[arg-type]
            fks.get(key, []),  # type: ignore[arg-type]
            checks.get(key, []),
        )
        for key in columns
    }


def _checks(
    inspector: sa.Inspector, names: list[str]
) -> dict[tuple[str | None, str], list[dict[str, object]]]:
    try:
        found = inspector.get_multi_check_constraints(filter_names=names)
    except (NotImplementedError, NotSupportedError):  # dialects without CHECK reflection
        return {}
    return {key: [dict(check) for check in value] for key, value in found.items()}


def diff(expected: Schema, actual: Schema) -> list[str]:
    """What ``actual`` has that ``expected`` has not, and the reverse, one line each.

    >>> diff({"table a": {"column x": "INTEGER NULL"}},
    ...      {"table a": {"column x": "TEXT NULL"}, "table b": {"column id": "INTEGER NOT NULL"}})
    ['table b added (column id)', 'table a: column x changed: INTEGER NULL -> TEXT NULL']
    """
    lines = []
    for obj in _ordered(actual.keys() - expected.keys()):
        members = ", ".join(
            k.removeprefix("column ") for k in actual[obj] if k.startswith("column")
        )
        lines.append(f"{obj} added" + (f" (column {members})" if members else ""))
    lines += [f"{obj} removed" for obj in _ordered(expected.keys() - actual.keys())]
    for obj in _ordered(expected.keys() & actual.keys()):
        before, after = expected[obj], actual[obj]
        lines += [f"{obj}: {k} added: {after[k]}" for k in sorted(after.keys() - before.keys())]
        lines += [f"{obj}: {k} removed: {before[k]}" for k in sorted(before.keys() - after.keys())]
        lines += [
            f"{obj}: {k} changed: {before[k]} -> {after[k]}"
            for k in sorted(before.keys() & after.keys())
            if before[k] != after[k]
        ]
    return lines


def _ordered(objects: Iterable[str]) -> list[str]:
    """Tables first, then views, then sequences: a left-behind table is the headline,
    its SERIAL sequence a consequence."""
    rank = {"table": 0, "view": 1, "sequence": 2}
    return sorted(objects, key=lambda obj: (rank.get(obj.split(" ", 1)[0], 3), obj))


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
    schema: Schema = field(default_factory=dict)  # the schema before the current revision
    after: Schema = field(default_factory=dict)  # ... and after its first upgrade
    cache: dict[tuple[str, object], dict[str, str]] = field(default_factory=dict)
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

    def on_step(self, ctx: MigrationContext, _step: MigrationInfo) -> None:
        """After each step: reflect, compare where the step calls for it, record the case."""
        script, phase = self.plan[self.done]
        self.done += 1
        assert ctx.connection is not None  # online mode only
        schema = reflect(ctx.connection, self.ignore, self.cache)
        if phase == UPGRADE:
            self.after = schema
            return
        if phase == DOWNGRADE:
            _require_same(script, SCHEMA_AFTER_DOWNGRADE, self.schema, schema)
            return
        _require_same(script, RE_UPGRADE, self.after, schema)
        self.schema = schema
        now = time.perf_counter()
        self.passed.append(_case_result(script, "passed", now - self.clock))
        self.clock = now

    def run(self, connection: Connection) -> _StepFailed | None:
        """Walk the whole plan in one transaction; the first failure, if any."""
        with connection.begin():
            self.schema = reflect(connection, self.ignore, self.cache)
        self.clock = time.perf_counter()
        try:
            with connection.begin():
                self.penv.run(
                    lambda _rev, _ctx: self.steps(),
                    connection,
                    on_step=self.on_step,
                    destination_rev="heads",
                )
        except MigrationFailed as exc:
            if isinstance(exc.__cause__, _StepFailed):
                return exc.__cause__
            script, phase = self.plan[self.done]
            return _StepFailed(script, phase, _without_project(str(exc), self.penv.name))
        return None


_HEADLINES = {
    SCHEMA_AFTER_DOWNGRADE: "downgrade left the schema different from before the upgrade",
    RE_UPGRADE: "upgrading again gave a different schema than the first upgrade",
}


def _require_same(script: Script, step: str, expected: Schema, actual: Schema) -> None:
    changes = diff(expected, actual)
    if changes:
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        raise _StepFailed(script, step, f"{_HEADLINES[step]}: {changes[0]}{more}", changes)


def _without_project(message: str, project: str) -> str:
    return message.removeprefix(f"{project}: ")


def walk_order(penv: ProjectEnv) -> list[Script]:
    """Every revision, parents before children (``walk_revisions`` gives heads first)."""
    return list(reversed(list(penv.script.walk_revisions())))


def _case_result(script: Script, status: str, seconds: float = 0.0, **kw: object) -> RoundTripCase:
    down = script.down_revision
    downs = [] if down is None else [down] if isinstance(down, str) else list(down)
    return RoundTripCase(
        revision=script.revision,
        down_revisions=downs,
        message=(script.doc or "").strip(),
        status=status,
        seconds=round(seconds, 4),
        **kw,  # type: ignore[arg-type]
    )


def _retarget(penv: ProjectEnv, database_url: str | URL) -> ProjectEnv:
    """``penv``'s project pointed at ``database_url`` (an explicit URL: nothing else is read)."""
    if isinstance(database_url, URL):
        database_url = database_url.render_as_string(hide_password=False)
    if penv.target.secret_url == database_url:
        return penv
    root = penv.project.path.parent.parent
    return ProjectEnv.load(penv.project, targets.resolve(penv.project, root, {}, database_url))


def roundtrip(penv: ProjectEnv, database_url: str | URL) -> RoundTripResult:
    """Round-trip every revision of ``penv``'s project on the empty database ``database_url``."""
    penv = _retarget(penv, database_url)
    order = walk_order(penv)  # builds the revision map, once
    started = time.perf_counter()
    with open_connection(penv) as connection:
        _no_durability(connection)
        current, version_table = read_current(penv, connection)
        if current:
            raise MigrationFailed(
                f"{penv.name}: the throw-away database is not empty (at {describe_revs(current)})"
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
    if connection.dialect.name != "sqlite":
        return
    cursor = connection.connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode = MEMORY")
        cursor.execute("PRAGMA synchronous = OFF")
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
            "failed",
            time.perf_counter() - walk.clock,
            step=failure.step,
            error=failure.error,
            diff=failure.diff,
        )
    )
    reason = f"not run: {failure.script.revision} failed first"
    cases += [_case_result(s, "skipped", error=reason) for s in walk.order[len(cases) :]]
    return cases


# --- output --------------------------------------------------------------------


def junit_xml(results: Sequence[RoundTripResult]) -> str:
    """JUnit XML: one testsuite per project, one testcase per revision."""
    suites = [
        junit.Suite(
            f"{result.project} ({result.dialect})", [_junit_case(result, c) for c in result.cases]
        )
        for result in results
    ]
    return junit.render("runner test", suites)


def _junit_case(result: RoundTripResult, case: RoundTripCase) -> junit.Case:
    name = f"{describe_revs(case.down_revisions)} -> {case.revision}"
    if case.message:
        name += f" {case.message}"
    classname = f"roundtrip.{result.project}"
    if case.status == "failed":
        return junit.Case(
            classname,
            name,
            case.seconds,
            failure=f"{case.step}: {case.error}",
            kind=case.step or "failure",
            details="\n".join(case.diff),
        )
    if case.status == "skipped":
        return junit.Case(classname, name, case.seconds, skipped=case.error or "skipped")
    return junit.Case(classname, name, case.seconds)


def run_tests(
    penvs: Sequence[ProjectEnv],
    backend: str,
    server_url: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> list[RoundTripResult]:
    """Round-trip each project on its own fresh database of kind ``backend``.

    One server (or container) serves the whole run; each project gets a new
    database, dropped afterwards, so projects cannot see each other's tables.
    """
    results = []
    with scratch.scratch_server(backend, server_url, environ) as server:
        for penv in penvs:
            with server.database() as url:
                results.append(roundtrip(penv, url))
    return results
