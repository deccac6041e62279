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

Cost is what the issue's benchmark measures, so the revision map is built once
(``ProjectEnv.script``), one connection serves the whole walk, and each step is
one pass through env.py in its own transaction (``alembic.command`` would
rebuild the revision map on every call).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.script import Script
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import CompileError, NotSupportedError

from runner import junit, scratch, targets
from runner.environment import ProjectEnv, StepsFn
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
    cache: dict[str, tuple[object, dict[str, str]]] | None = None,
) -> Schema:
    """The default schema's tables, views and sequences, minus ``ignore`` (the version table).

    ``cache`` (table -> (fingerprint, elements)) lets repeated reflections skip
    tables whose definition did not change; see :func:`_fingerprints`. The
    ``get_multi_*`` calls fetch every table at once where the dialect can (one
    query each on PostgreSQL).
    """
    inspector = sa.inspect(connection)
    fingerprints = _fingerprints(connection)
    cache = {} if cache is None else cache
    names = [name for name in inspector.get_table_names() if name not in ignore]
    stale = [n for n in names if not _cached(cache, n, fingerprints.get(n))]
    for name, elements in _reflect_tables(inspector, connection.dialect, stale).items():
        cache[name] = (fingerprints.get(name), elements)
    schema: Schema = {f"table {name}": cache[name][1] for name in names}
    for view in inspector.get_view_names():
        schema[f"view {view}"] = {}
    if connection.dialect.supports_sequences:
        try:
            for sequence in inspector.get_sequence_names():
                schema[f"sequence {sequence}"] = {}
        except NotImplementedError:
            pass
    return schema


def _cached(
    cache: dict[str, tuple[object, dict[str, str]]], table: str, fingerprint: object
) -> bool:
    """True when ``cache`` holds ``table`` as it is now (never without a fingerprint)."""
    return fingerprint is not None and table in cache and cache[table][0] == fingerprint


def _fingerprints(connection: Connection) -> dict[str, object]:
    """Per table, a value that changes whenever its reflected shape can change.

    Only SQLite has one, and it is exact: everything SQLite reports about a
    table (PRAGMA table_info, index_list, foreign_key_list) is derived from the
    CREATE statements in ``sqlite_master``. One query then replaces six per
    table, which is most of the round trip's time on long histories. Other
    dialects get no fingerprint, so their tables are always reflected.
    """
    if connection.dialect.name != "sqlite":
        return {}
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    rows = connection.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master")
    for type_, name, table, sql in rows:
        found.setdefault(table, []).append((type_, name, sql))
    return {table: tuple(sorted(items, key=str)) for table, items in found.items()}


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
    """One step of one case failed: which step, why, and the schema diff if any."""

    def __init__(self, step: str, error: str, diff_lines: Sequence[str] = ()) -> None:
        super().__init__(error)
        self.step = step
        self.error = error
        self.diff = list(diff_lines)


@dataclass
class _Walk:
    """State of one walk: the env, its connection, the schema the database has now."""

    penv: ProjectEnv
    connection: Connection
    ignore: frozenset[str]
    schema: Schema = field(default_factory=dict)
    cache: dict[str, tuple[object, dict[str, str]]] = field(default_factory=dict)

    def reflect(self) -> Schema:
        # In its own transaction: reflection would otherwise autobegin one that
        # the next step's connection.begin() refuses to nest in.
        with self.connection.begin():
            return reflect(self.connection, self.ignore, self.cache)

    def upgrade(self, script: Script, step: str) -> None:
        self._run(step, lambda rev, _ctx: self.penv.upgrade_steps(script.revision, rev), script)

    def downgrade(self, script: Script) -> None:
        destination = undo_destination(script)
        self._run(
            DOWNGRADE,
            lambda rev, _ctx: self.penv.downgrade_steps(destination, rev),
            script,
            destination,
        )

    def _run(self, step: str, fn: StepsFn, script: Script, destination: str | None = None) -> None:
        try:
            with self.connection.begin():
                self.penv.run(
                    fn,
                    self.connection,
                    destination_rev=destination or script.revision,
                )
        except MigrationFailed as exc:
            raise _StepFailed(step, _without_project(str(exc), self.penv.name)) from exc

    def case(self, script: Script) -> None:
        """Round-trip one revision; raise :class:`_StepFailed` at the first failing step."""
        before = self.schema
        self.upgrade(script, UPGRADE)
        after = self.reflect()
        self.downgrade(script)
        changes = diff(before, self.reflect())
        if changes:
            raise _StepFailed(
                SCHEMA_AFTER_DOWNGRADE,
                f"downgrade left the schema different from before the upgrade: {changes[0]}"
                + (f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""),
                changes,
            )
        self.upgrade(script, RE_UPGRADE)
        self.schema = self.reflect()
        changes = diff(after, self.schema)
        if changes:
            raise _StepFailed(
                RE_UPGRADE,
                f"upgrading again gave a different schema than the first upgrade: {changes[0]}",
                changes,
            )


def undo_destination(script: Script) -> str:
    """A downgrade destination that reverts ``script`` alone.

    ``<rev>@-1`` is one step down *on that revision's branch*, so sibling
    branches stay applied; a merge point has no single branch (Alembic calls
    ``@-1`` there an ambiguous walk), but naming any of its parents reverts just
    the merge.
    """
    if script.is_merge_point:
        return str(script._versioned_down_revisions[0])
    return f"{script.revision}@-1"


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
    cases: list[RoundTripCase] = []
    with open_connection(penv) as connection:
        _no_durability(connection)
        current, version_table = read_current(penv, connection)
        if current:
            raise MigrationFailed(
                f"{penv.name}: the throw-away database is not empty (at {describe_revs(current)})"
            )
        walk = _Walk(penv, connection, frozenset({version_table or ""}))
        walk.schema = walk.reflect()
        cases = list(_cases(walk, order))
    return RoundTripResult(
        project=penv.name,
        url=penv.target.display,
        dialect=penv.target.url.get_backend_name(),
        passed=all(case.status == "passed" for case in cases),
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


def _cases(walk: _Walk, order: Sequence[Script]) -> Iterator[RoundTripCase]:
    failed: str | None = None
    for script in order:
        if failed is not None:
            yield _case_result(script, "skipped", error=f"not run: {failed} failed first")
            continue
        started = time.perf_counter()
        try:
            walk.case(script)
        except _StepFailed as exc:
            failed = script.revision
            yield _case_result(
                script,
                "failed",
                time.perf_counter() - started,
                step=exc.step,
                error=exc.error,
                diff=exc.diff,
            )
            continue
        yield _case_result(script, "passed", time.perf_counter() - started)


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
