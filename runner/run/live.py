"""Plans that know the live database: the tables a plan's statements touch, how big
they are, who holds locks on them, and what that means for the lint findings.

``plan`` reads its target anyway (where the database is). This module then asks
it, read-only and in one transaction it rolls back, about every existing table
the pending SQL names (sqlglot reads the names, :mod:`runner.db.tables`): the
estimated rows and total size (PostgreSQL ``pg_class.reltuples`` and
``pg_total_relation_size``; MySQL/MariaDB ``information_schema.TABLES``), and on
PostgreSQL the sessions holding or awaiting a lock on it (``pg_locks`` with
``pg_stat_activity``: pid, user, application, state, how long its transaction has
been open; never its query, which may hold literals). The per-dialect SQL is in
:mod:`runner.db.backends`.

:func:`judge` is the one place where size changes a finding: a finding of a rule
whose cost grows with the table (``grows_with_table`` in the lint registry, passed
in by the caller: its lock or rewrite lasts as long as the table is big) becomes
an error on a table at or above ``large_table_rows`` or ``large_table_bytes``, and
a warning becomes info on a table below ``small_table_rows``. Errors are never
lowered: data loss is data loss on any table. The plan shows each change and why.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from runner.db import guard
from runner.db.tables import TableName, touched
from runner.db.target import SizeLimits
from runner.errors import RunnerError
from runner.output.live_results import LivePlan, SeverityChange, StatementTables, TableFacts
from runner.output.results import LintFinding
from runner.project.environment import ProjectEnv
from runner.project.repository import RUNNER_TABLES_RE
from runner.project.sql_files import split_statements
from runner.run.session import open_connection

_MARKER = re.compile(r"^-- Running (?:upgrade|downgrade) (?P<down>.*?) -> (?P<rev>\S+)\s*$",
                     re.MULTILINE)  # fmt: skip
_BOOKKEEPING = re.compile(rf"^({RUNNER_TABLES_RE})$", re.IGNORECASE)
_SHOWN = 200  # how much of a statement a plan (and a lint finding) shows


def shown(statement: str) -> str:
    """A statement on one line, at most 200 characters: as lint findings show it."""
    text = " ".join(statement.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def statements(sql: str, dialect: str | None, version_table: str | None) -> list[
        tuple[str, str, int, list[TableName]]]:  # fmt: skip
    """(revision, statement, where it ends in ``sql``, tables it names) for each statement
    of a plan's SQL that names a table other than the version table and change log."""
    found = []
    markers = list(_MARKER.finditer(sql))
    for i, marker in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(sql)
        position = marker.end()
        for statement in split_statements(sql[marker.end() : end]):
            at = sql.find(statement, position, end)
            if at < 0:  # not found verbatim (never expected): no place to show notes
                continue
            position = at + len(statement)
            tables = [
                t for t in touched(statement, dialect)
                if not _BOOKKEEPING.match(t.name) and t.name != version_table
            ]  # fmt: skip
            if tables:
                found.append((marker["rev"], statement, position, tables))
    return found


def read(penv: ProjectEnv, sql: str, version_table: str | None, limits: SizeLimits) -> LivePlan:
    """What the target says of the tables ``sql`` touches (see the module docstring).

    A database that cannot answer (a view this user may not read) gives a plan with
    ``problem`` set instead of figures: the plan itself still stands."""
    kind = penv.target.backend
    shape = {"large_table_rows": limits.large_rows, "large_table_bytes": limits.large_bytes,
             "small_table_rows": limits.small_rows}  # fmt: skip
    found = statements(sql, kind.sqlglot_dialect, version_table)
    if not found:
        return LivePlan(kind.size_source, limits=shape)
    facts: dict[TableName, TableFacts] = {}
    try:
        with open_connection(penv) as connection, connection.begin() as transaction:
            for table in dict.fromkeys(t for *_, tables in found for t in tables):
                size = guard.size(connection, kind, table)
                if size is not None:
                    sessions = guard.holders(connection, kind, table)
                    facts[table] = TableFacts(table.shown, size[0], size[1], sessions)
            transaction.rollback()  # only read
    except (DBAPIError, RunnerError) as exc:
        from runner.db.connect import describe_db_error

        why = exc.message if isinstance(exc, RunnerError) else describe_db_error(exc)
        return LivePlan(kind.size_source, limits=shape, problem=why)
    notes = [
        StatementTables(rev, shown(statement), [t.shown for t in tables if t in facts], end)
        for rev, statement, end, tables in found
        if any(t in facts for t in tables)
    ]
    return LivePlan(kind.size_source, list(facts.values()), notes, limits=shape)


def judge(
    findings: Sequence[LintFinding], live: LivePlan, limits: SizeLimits,
    sensitive: frozenset[str],
) -> tuple[list[LintFinding], list[SeverityChange]]:  # fmt: skip
    """The findings with their severity set by the size of their statement's biggest
    table, for the rules in ``sensitive``, and each change with why (a pure function:
    the figures are in ``live``)."""
    tables = {t.name: t for t in live.tables}
    out, changes = [], []
    for item in findings:
        table = _biggest(item, live.statements, tables) if item.rule in sensitive else None
        now, why = _verdict(item, table, limits)
        if now == item.severity or table is None:
            out.append(item)
            continue
        out.append(dataclasses.replace(item, severity=now))
        changes.append(SeverityChange(item.rule, item.revision, item.statement, item.severity,
                                      now, why))  # fmt: skip
    return out, changes


def _biggest(item: LintFinding, notes: Sequence[StatementTables],
             tables: dict[str, TableFacts]) -> TableFacts | None:  # fmt: skip
    """The biggest existing table of the statement ``item`` is about, if it is known."""
    if not item.statement:
        return None
    wanted = item.statement.removesuffix("...")
    for note in notes:
        if note.revision == item.revision and note.statement.startswith(wanted):
            known = [tables[name] for name in note.tables if name in tables]
            return max(known, key=lambda t: (t.rows or 0, t.bytes or 0), default=None)
    return None


def _verdict(item: LintFinding, table: TableFacts | None, limits: SizeLimits) -> tuple[str, str]:
    if table is None:
        return item.severity, ""
    size = table.size
    if (table.rows or 0) >= limits.large_rows or (table.bytes or 0) >= limits.large_bytes:
        if item.severity != "error":
            limit = f"large_table_rows = {limits.large_rows}, large_table_bytes ="
            return "error", f"{table.name} is large ({size}; {limit} {limits.large_bytes})"
    elif table.rows is not None and table.rows < limits.small_rows and item.severity == "warning":
        return "info", f"{table.name} is small ({size}; small_table_rows = {limits.small_rows})"
    return item.severity, ""
