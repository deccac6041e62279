"""SQL checks of ``runner lint``: each rendered statement parsed with sqlglot.

Each statement of a revision's upgrade SQL is parsed in the project's sqlglot
dialect and handed to the handler registered for its node type
(:func:`handles`); a handler applies the rules of :mod:`runner.lint.rules` that
concern that kind of statement. Statements on the version table are Alembic's
own bookkeeping and are skipped. A rule's cases (SQL that must and must not
fire it) are data, in ``tests/lint_cases/``, run through :func:`check_revision`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from runner.db.backends import Backend
from runner.lint import checks
from runner.lint.render import quiet
from runner.lint.rules import RULES, finding
from runner.output.results import LintFinding
from runner.project.sql_files import split_statements

# Alembic's batch mode on SQLite copies a table through this name and renames it back.
_BATCH_TMP = "_alembic_tmp_"
# Column types that fill themselves, so NOT NULL without DEFAULT is fine.
_SELF_FILLING = {exp.DataType.Type.SERIAL, exp.DataType.Type.BIGSERIAL}
_SELF_FILLING_CONSTRAINTS = (
    exp.GeneratedAsIdentityColumnConstraint,
    exp.AutoIncrementColumnConstraint,
    exp.ComputedColumnConstraint,
)


class Schema:
    """table -> {column: type}: what the revisions so far built, so that a SQLite batch
    copy (new table, copy rows, drop, rename) can be compared with the table it replaces.
    Filled in revision order by :func:`check_revision`.

    A ``CREATE TABLE`` is parsed only when a later statement reads its columns: no other
    handler needs its tree, and most tables are never copied, so a history of new tables
    is checked without parsing each of them (:func:`deferred_create`).
    """

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, str]] = {}
        self._unparsed: dict[str, tuple[str, str]] = {}  # table -> (statement, dialect)

    def defer(self, table: str, statement: str, dialect: str) -> None:
        self._tables.pop(table, None)
        self._unparsed[table] = (statement, dialect)

    def columns(self, table: str) -> dict[str, str] | None:
        """The table's columns as built so far (parsing its CREATE TABLE now if need be)."""
        unparsed = self._unparsed.pop(table, None)
        if unparsed is not None:
            try:
                parsed = _parse(*unparsed)
            except Exception:  # a third-party parser: its columns are unknown, not wrong
                parsed = None
            self._tables[table] = _columns(parsed) if isinstance(parsed, exp.Create) else {}
        return self._tables.get(table)

    def set(self, table: str, columns: dict[str, str]) -> None:
        self._unparsed.pop(table, None)
        self._tables[table] = columns

    def take(self, table: str) -> dict[str, str]:
        """Remove the table, returning its columns (none when unknown)."""
        found = self.columns(table)
        self._tables.pop(table, None)
        return found or {}

    def add_column(self, table: str, column: str, kind: str) -> None:
        found = self.columns(table)
        self.set(table, {**(found or {}), column: kind})

    def drop_column(self, table: str, column: str) -> None:
        found = self.columns(table)
        if found is not None:
            found.pop(column, None)


# A plain CREATE TABLE's name, read without parsing (quoted or not, schema-qualified or
# not, as sqlglot would name it): anything else is parsed at once.
_IDENTIFIER = r'(?:[A-Za-z_][\w$]*|"[^"]+"|`[^`]+`)'
_CREATE_TABLE = re.compile(
    rf"\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_IDENTIFIER}(?:\.{_IDENTIFIER})?)\s*\(",
    re.IGNORECASE,
)


def deferred_create(statement: str) -> str | None:
    """The table a plain ``CREATE TABLE name (...)`` creates, lower-cased as :func:`_name`
    gives it; ``None`` for any other statement."""
    match = _CREATE_TABLE.match(statement)
    if match is None:
        return None
    return ".".join(part.strip('"`') for part in _split_name(match[1])).lower()


def _split_name(name: str) -> list[str]:
    """``a.b`` -> ``[a, b]``, keeping a dot inside quotes."""
    return re.findall(r'"[^"]+"|`[^`]+`|[^.]+', name)


def check_revision(
    revision: str,
    sql: str,
    kind: Backend,
    version_table: str,
    path: str | None,
    schema: Schema | None = None,
    autocommit: bool = False,
    *,
    server_version: str | None = None,
    guards: checks.Guards | None = None,
    seen: checks.Seen | None = None,
) -> list[LintFinding]:
    """Findings for one revision's upgrade SQL on backend ``kind``, statement by statement.

    Pass the same ``schema`` for every revision, in upgrade order, to check
    SQLite batch operations (which drop or change columns by copying tables).
    ``autocommit``: the revision uses ``autocommit_block``, whose offline rendering
    is a COMMIT and a BEGIN around its statements (the runner commits per
    revision for it): those are not the revision's own transaction control.
    ``server_version`` (targets.toml) picks version-dependent rules and severities;
    ``guards`` are the timeouts the runner sets itself; ``seen``, shared across
    revisions like ``schema``, holds what earlier revisions built (indexes, checks).
    """
    state = _RevisionState(revision, kind, path, Schema() if schema is None else schema, autocommit)
    state.server_version = server_version
    state.guards = guards or checks.Guards()
    state.seen = checks.Seen() if seen is None else seen
    skip = re.compile(rf"\b(alembic_version\w*|{re.escape(version_table or 'alembic_version')})\b")
    with quiet():
        for statement in split_statements(sql):
            if skip.search(statement.split("(", 1)[0]):
                continue  # Alembic's own version-table bookkeeping
            state.check(statement)
    return state.findings


@functools.lru_cache(maxsize=4096)
def _parse(statement: str, dialect: str) -> Any:
    """One parse per distinct statement and dialect: a history renders the same
    statements for ``lint``, ``plan`` and each dialect. Handlers only read the tree."""
    parsed = sqlglot.parse_one(statement, dialect=dialect or None)
    return parsed


Handler = Callable[["_RevisionState", Any, str], None]
# sqlglot node type -> the handler for statements of that type.
_HANDLERS: dict[type, Handler] = {}


def handles(*types: type[exp.Expression]) -> Callable[[Handler], Handler]:
    """Register the decorated function for statements parsed as one of ``types``."""

    def register(handler: Handler) -> Handler:
        for node_type in types:
            _HANDLERS[node_type] = handler
        return handler

    return register


def _handler_for(node: object) -> Handler | None:
    """The handler for ``node``'s type or its nearest registered base class."""
    for node_type in type(node).__mro__:
        found = _HANDLERS.get(node_type)
        if found is not None:
            return found
    return None


@dataclass
class _RevisionState:
    """Walks one revision's statements; remembers the tables it creates."""

    revision: str
    kind: Backend
    path: str | None
    schema: Schema
    autocommit: bool = False
    created: set[str] = field(default_factory=set)
    findings: list[LintFinding] = field(default_factory=list)
    # batch copy target -> {new column: source column} from INSERT ... SELECT
    copies: dict[str, dict[str, str]] = field(default_factory=dict)
    server_version: str | None = None
    guards: checks.Guards = field(default_factory=checks.Guards)
    seen: checks.Seen = field(default_factory=checks.Seen)
    memory: checks.Memory = field(default_factory=checks.Memory)

    def add(self, rule: str, message: str, statement: str) -> None:
        """Report ``rule`` on ``statement``, if the rule applies to this backend and
        server version (with the severity it has there)."""
        severity = RULES[rule].severity_for(self.kind.name, self.server_version)
        if severity is None:
            return
        shown = " ".join(statement.split())
        shown = shown if len(shown) <= 200 else shown[:197] + "..."
        self.findings.append(
            finding(rule, message, revision=self.revision, path=self.path, statement=shown,
                    severity=severity)
        )  # fmt: skip

    def check(self, statement: str) -> None:
        """Run the text rules, then parse ``statement`` (once per distinct text) and hand
        it to the handler of its kind."""
        checks.run(self, statement)
        if _TRANSACTION_TEXT.match(statement):  # sqlglot reads these as an alias
            _transaction(self, None, statement)
            return
        if _UNREAD.match(statement) and _BATCH_TMP not in statement:
            return  # no handler reads it: parsing would only cost time
        table = deferred_create(statement)
        if table is not None:  # parsed if and when a later statement reads its columns
            self.created.add(table)
            self.schema.defer(table, statement, self.kind.sqlglot_dialect or "")
            return
        try:
            parsed = _parse(statement, self.kind.sqlglot_dialect or "")
        except Exception as exc:  # a third-party parser: any failure means "not checked"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.add("unparsed-sql", f"could not parse, not checked: {first}", statement)
            return
        handler = _handler_for(parsed)
        if handler is not None:
            handler(self, parsed, statement)


@handles(exp.Command)
def _command(state: _RevisionState, parsed: exp.Command, statement: str) -> None:
    """Statements sqlglot keeps opaque; MySQL's RENAME TABLE is one of them."""
    if str(parsed.this).upper() == "RENAME":
        state.add("rename-table", "RENAME TABLE breaks applications using the old name", statement)
    else:
        state.add("unparsed-sql", "statement not understood by sqlglot, not checked", statement)


# Statements no handler reads, so they are not parsed (the text rules still see them):
# rows written or read. A data migration is mostly these. A batch copy's INSERT ...
# SELECT into Alembic's temporary table is read (:func:`_insert`), so it is parsed.
_UNREAD = re.compile(r"\s*(INSERT|SELECT|VALUES)\b", re.I)
# START TRANSACTION and SAVEPOINT parse as an alias in sqlglot 30; match their text.
_TRANSACTION_TEXT = re.compile(r"\s*(START\s+TRANSACTION|SAVEPOINT|RELEASE\s+SAVEPOINT)\b", re.I)


@handles(exp.Commit, exp.Rollback, exp.Transaction)
def _transaction(state: _RevisionState, _parsed: object, statement: str) -> None:
    """A revision's own COMMIT/ROLLBACK/BEGIN: the run's all-or-nothing transaction ends
    there (a failure after it leaves half the run applied, and the change log wrong)."""
    if state.autocommit:
        return
    verb = " ".join(statement.split()[:2]).upper()
    state.add(
        "transaction-control",
        f"{verb} inside a revision ends the run's transaction: remove it, or use"
        " op.get_context().autocommit_block() for statements that must run outside one",
        statement,
    )


@handles(exp.TruncateTable)
def _truncate(state: _RevisionState, _parsed: exp.TruncateTable, statement: str) -> None:
    state.add("truncate", "TRUNCATE empties the table", statement)


@handles(exp.Delete, exp.Update)
def _without_where(state: _RevisionState, parsed: exp.Delete | exp.Update, statement: str) -> None:
    if parsed.args.get("where"):
        return
    verb = "DELETE" if isinstance(parsed, exp.Delete) else "UPDATE"
    rule = "delete-without-where" if verb == "DELETE" else "update-without-where"
    state.add(rule, f"{verb} on {_name(parsed.this)} without WHERE", statement)


@handles(exp.Insert)
def _insert(state: _RevisionState, parsed: exp.Insert, _statement: str) -> None:
    """Remember which old column feeds which new one in a batch copy."""
    target = parsed.this
    table = _name(target.this if isinstance(target, exp.Schema) else target)
    select = parsed.expression
    if not table.startswith(_BATCH_TMP) or not isinstance(target, exp.Schema):
        return
    if not isinstance(select, exp.Select):
        return
    columns = [_name(c) for c in target.expressions]
    # "t.old AS new" feeds new from old; a plain column feeds itself.
    sources = [_name(e.this if isinstance(e, exp.Alias) else e) for e in select.expressions]
    state.copies[table] = dict(zip(columns, sources, strict=False))


@handles(exp.Create)
def _create(state: _RevisionState, parsed: exp.Create, statement: str) -> None:
    kind = str(parsed.args.get("kind") or "").upper()
    if kind == "TABLE":
        table = _name(parsed.find(exp.Table))
        state.created.add(table)
        state.schema.set(table, _columns(parsed))
    elif kind == "INDEX" and not parsed.args.get("concurrently"):
        table = _name(parsed.this.args.get("table"))
        if table not in state.created:
            state.add(
                "blocking-index",
                f"CREATE INDEX on existing table {table} blocks writes while it builds:"
                " use CREATE INDEX CONCURRENTLY (op.create_index(...,"
                " postgresql_concurrently=True) in an autocommit block)",
                statement,
            )


@handles(exp.Drop)
def _drop(state: _RevisionState, parsed: exp.Drop, statement: str) -> None:
    kind = str(parsed.args.get("kind") or "").upper()
    table = _name(parsed.find(exp.Table))
    if kind == "TABLE" and _BATCH_TMP + table not in state.created:
        state.add("drop-table", f"DROP TABLE {table} loses its data", statement)
    elif kind in {"SCHEMA", "DATABASE"}:
        state.add("drop-schema", f"DROP {kind} loses everything in it", statement)


@handles(exp.Alter)
def _alter(state: _RevisionState, parsed: exp.Alter, statement: str) -> None:
    """ALTER TABLE: each of its actions in turn."""
    table = _name(parsed.this)
    for action in parsed.args.get("actions") or []:
        if isinstance(action, exp.AlterRename) and _rename_to(parsed) is not None:
            old, new = _name(action.this), _name(_rename_to(parsed))
            message = f"renaming {table}.{old} to {new} breaks applications"
            state.add("rename-column", message, statement)
        else:
            _alter_action(state, table, action, statement)


def _batch_swap(state: _RevisionState, table: str, statement: str) -> None:
    """``ALTER TABLE _alembic_tmp_t RENAME TO t``: compare the copy with the old ``t``."""
    original = table.removeprefix(_BATCH_TMP)
    old = state.schema.columns(original) or {}
    new = state.schema.take(table)
    copied = state.copies.pop(table, {})
    fed = set(copied.values())
    for column in sorted(set(old) - fed):
        state.add("drop-column", f"batch copy drops column {original}.{column}: its data is"
                  " lost", statement)  # fmt: skip
    for target, source in copied.items():
        if target != source:
            state.add("rename-column", f"renaming {original}.{source} to {target} breaks"
                      " applications", statement)  # fmt: skip
        elif source in old and target in new and old[source] != new[target]:
            state.add("column-type-change", f"type change of {original}.{target}:"
                      f" {old[source]} -> {new[target]}", statement)  # fmt: skip
    state.schema.set(original, new)


def _alter_action(
    state: _RevisionState, table: str, action: exp.Expression, statement: str
) -> None:
    """One action of an ALTER TABLE."""
    if isinstance(action, exp.AlterRename) and table.startswith(_BATCH_TMP):
        _batch_swap(state, table, statement)
    elif isinstance(action, exp.Drop) and str(action.args.get("kind")).upper() == "COLUMN":
        column = _name(action.find(exp.Column))
        state.schema.drop_column(table, column)
        state.add("drop-column", f"DROP COLUMN {table}.{column} loses its data", statement)
    elif isinstance(action, exp.AlterColumn) and action.args.get("dtype"):
        state.add("column-type-change", f"type change of {table}.{_name(action.this)}", statement)
    elif isinstance(action, exp.ModifyColumn):
        _modify(state, table, action, statement)
    elif isinstance(action, exp.ColumnDef) and table not in state.created:
        state.schema.add_column(table, _name(action.this), _type(action))
        if _not_null_without_default(action):
            state.add(
                "add-not-null-column",
                f"NOT NULL column {table}.{_name(action.this)} without a default: fails (or"
                " is silently filled) on a table that has rows; add a server_default",
                statement,
            )
    elif isinstance(action, exp.AlterRename) and not table.startswith(_BATCH_TMP):
        state.add(
            "rename-table",
            f"renaming {table} to {_name(action.this)} breaks applications using the old name",
            statement,
        )
    elif isinstance(action, exp.RenameColumn):
        old, new = _name(action.this), _name(action.args.get("to"))
        state.add(
            "rename-column", f"renaming {table}.{old} to {new} breaks applications", statement
        )


def _modify(state: _RevisionState, table: str, action: exp.ModifyColumn, statement: str) -> None:
    """MySQL ``MODIFY col ...`` / ``CHANGE old new ...``: a rename or a redefinition."""
    new = _name(action.this)
    old = _name(action.args.get("rename_from")) or new
    if old.lower() != new.lower():
        state.add(
            "rename-column", f"renaming {table}.{old} to {new} breaks applications", statement
        )
    else:
        state.add(
            "column-type-change",
            f"column {table}.{new} is redefined (type or nullability change)",
            statement,
        )


def _rename_to(alter: exp.Alter) -> exp.Expression | None:
    """The new name of PostgreSQL's ``ALTER TABLE t RENAME col TO new`` (no COLUMN keyword).

    sqlglot (30.x) parses that form as a table rename to ``col`` with a stray
    ``TO new`` option; the option is how we tell it is really a column rename.
    """
    for option in alter.args.get("options") or []:
        if isinstance(option, exp.ToTableProperty):
            return option.this  # type: ignore[no-any-return]
    return None


def _not_null_without_default(column: exp.ColumnDef) -> bool:
    """True for an added ``NOT NULL`` column that nothing fills (no default, identity, serial)."""
    kinds = [c.args.get("kind") for c in column.args.get("constraints") or []]
    not_null = any(
        isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in kinds
    )
    filled = any(
        isinstance(k, (exp.DefaultColumnConstraint, *_SELF_FILLING_CONSTRAINTS)) for k in kinds
    )
    dtype = column.args.get("kind")
    serial = isinstance(dtype, exp.DataType) and dtype.this in _SELF_FILLING
    return not_null and not filled and not serial


def _columns(create: exp.Create) -> dict[str, str]:
    """{column: type} of a parsed CREATE TABLE."""
    definitions = create.this.expressions if isinstance(create.this, exp.Schema) else []
    return {_name(d.this): _type(d) for d in definitions if isinstance(d, exp.ColumnDef)}


def _type(column: exp.ColumnDef) -> str:
    """A column's declared type, upper-cased: what a batch copy is compared on."""
    kind = column.args.get("kind")
    return kind.sql().upper() if isinstance(kind, exp.Expression) else ""


def _name(node: exp.Expression | None) -> str:
    """``schema.table`` (or a plain name) of a sqlglot node, lower-cased; ``""`` for none."""
    if node is None:
        return ""
    if isinstance(node, exp.Table):
        return ".".join(part for part in (node.db, node.name) if part).lower()
    return str(node.name or node.sql()).lower()
