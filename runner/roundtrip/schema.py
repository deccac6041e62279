"""Schema snapshots for ``runner test``: take one after each step, compare two.

A snapshot is what a downgrade could leave behind or lose: tables with their
columns, primary key, indexes, unique and foreign keys and checks; views;
sequences. Two snapshots compare as plain data, and :func:`diff` says what
differs, one line per element.

SQLite gets a cheaper and exact path. Everything SQLite reports about a table
(``PRAGMA table_info``, ``index_list``, ``foreign_key_list``) derives from the
CREATE statements in ``sqlite_master``, so a snapshot there is one query: each
object keyed by its normalised statements. Snapshots with equal keys are equal
without any reflection. Only objects whose keys differ are reflected, and
then from their statements replayed into an in-memory database, because the
state a past snapshot describes is gone by the time it is compared. Reflection
was most of a round trip's cost on a long history; on a passing walk there is
now none.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import CompileError, DBAPIError, NotSupportedError

from runner.db.backends import backend

# A reflected schema as comparable plain data:
# object ("table people", "view v", "sequence s") -> element ("column name") -> description.
Schema = dict[str, dict[str, str]]

# object -> reflected elements, shared by the comparisons of one walk.
Memo = dict[object, dict[str, str]]


@dataclass(frozen=True)
class Snapshot:
    """The schema after one step.

    ``keys`` (SQLite only) maps each object to its normalised statements, and
    ``statements`` holds the raw ``(type, name, table, sql)`` catalog rows to
    replay; ``schema`` holds the reflected elements on other dialects.
    """

    keys: Mapping[str, object]
    statements: tuple[tuple[str, str, str, str], ...] = ()
    schema: Schema | None = None

    def elements(self, objects: Iterable[str], memo: Memo) -> Schema:
        """The reflected elements of those ``objects`` that this snapshot has."""
        if self.schema is not None:
            return {obj: self.schema[obj] for obj in objects if obj in self.schema}
        wanted = [obj for obj in objects if obj in self.keys]
        missing = [obj for obj in wanted if self.keys[obj] not in memo]
        if missing:
            replayed = _replay(self.statements, missing)
            memo.update({self.keys[obj]: replayed[obj] for obj in missing})
        return {obj: memo[self.keys[obj]] for obj in wanted}


def take(connection: Connection, ignore: frozenset[str] = frozenset()) -> Snapshot:
    """A snapshot of the default schema, minus the tables in ``ignore`` (the version table)."""
    if backend(connection.dialect.name).catalog_of_statements:
        return _sqlite_snapshot(connection, ignore)
    return Snapshot(keys={}, schema=reflect(connection, ignore))


def compare(expected: Snapshot, actual: Snapshot, memo: Memo) -> list[str]:
    """:func:`diff` of two snapshots; on SQLite, only objects whose statements differ
    are reflected (and a difference of text alone is no difference)."""
    if expected.schema is not None and actual.schema is not None:
        return diff(expected.schema, actual.schema)
    changed = sorted(
        obj
        for obj in expected.keys.keys() | actual.keys.keys()
        if expected.keys.get(obj) != actual.keys.get(obj)
    )
    if not changed:
        return []
    return diff(expected.elements(changed, memo), actual.elements(changed, memo))


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


# --- SQLite: the catalog as the snapshot ----------------------------------------------


def _sqlite_snapshot(connection: Connection, ignore: frozenset[str]) -> Snapshot:
    # The driver's cursor, in the connection's transaction: taken after every
    # step of a walk, this read is worth keeping lean.
    cursor = connection.connection.cursor()
    try:
        cursor.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
        found = cursor.fetchall()
    finally:
        cursor.close()
    rows = tuple(
        (type_, name, table, sql or "")
        for type_, name, table, sql in found
        # The same filter as SQLAlchemy's SQLite get_table_names (sqlite_sequence...).
        if table not in ignore and not table.startswith("sqlite_")
    )
    grouped: dict[str, list[tuple[str, str, str]]] = {}
    for type_, name, table, sql in rows:
        obj = f"view {name}" if type_ == "view" else f"table {table}"
        grouped.setdefault(obj, []).append((type_, name, _sql_key(sql)))
    keys = {obj: tuple(sorted(items)) for obj, items in grouped.items()}
    return Snapshot(keys=keys, statements=rows)


def _replay(statements: Sequence[tuple[str, str, str, str]], objects: Sequence[str]) -> Schema:
    """Reflect ``objects`` from catalog rows recreated in a private in-memory database.

    Every table and index is recreated (a foreign key's target table decides
    its reflected columns); triggers are described from their statements. An
    object SQLite will not recreate here (a virtual table whose module is not
    loaded, say) is described by its statements instead.
    """
    engine = sa.create_engine("sqlite://")
    failed: set[str] = set()
    schema: Schema = {}
    try:
        with engine.connect() as connection:
            for type_, _name, table, sql in sorted(statements, key=lambda r: r[0] != "table"):
                if type_ in {"table", "index"} and sql:
                    try:
                        connection.exec_driver_sql(sql)
                    except DBAPIError:
                        failed.add(f"table {table}")
            tables = [o.removeprefix("table ") for o in objects if o.startswith("table ")]
            inspector = sa.inspect(connection)
            reflected = _reflect_tables(
                inspector, connection.dialect, [t for t in tables if f"table {t}" not in failed]
            )
    finally:
        engine.dispose()
    for obj in objects:
        rows = [r for r in statements if _object_of(r) == obj]
        if obj.startswith("view "):
            schema[obj] = {"definition": _sql_key(rows[0][3])}
            continue
        table = obj.removeprefix("table ")
        if table in reflected:
            elements = dict(reflected[table])
        else:
            elements = {f"{t} {n}": _sql_key(sql) for t, n, _, sql in rows if sql}
        for type_, name, _, sql in rows:
            if type_ == "trigger":
                elements[f"trigger {name}"] = _sql_key(sql)
        schema[obj] = elements
    return schema


def _object_of(row: tuple[str, str, str, str]) -> str:
    return f"view {row[1]}" if row[0] == "view" else f"table {row[2]}"


# Lexemes of SQLite DDL: literals, quoted names and comments whole, then words
# and single punctuation characters; whitespace between them is dropped.
_LEXEME = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/|[\w$.]+|\S""",
    re.S,
)
_QUOTED_NAME = re.compile(r"""["`\[]([A-Za-z_]\w*)["`\]]""")


@functools.cache
def _sql_key(sql: str) -> str:
    """A CREATE statement with layout and quoting of plain names normalised away.

    Tables rebuilt by Alembic's batch mode (and renamed by SQLite) get new
    statement text for the same definition: ``CREATE TABLE "t" (id ...)`` for
    ``CREATE TABLE t (\\n\\tid ...``. Literals are kept as they are, so two keys
    are equal only when the statements mean the same.

    >>> _sql_key('CREATE TABLE "t" (\\n\\tid INTEGER, x TEXT DEFAULT \\'a  b\\')')
    "CREATE TABLE t ( id INTEGER , x TEXT DEFAULT 'a  b' )"
    """
    return " ".join(_unquoted(lexeme) for lexeme in _LEXEME.findall(sql))


def _unquoted(lexeme: str) -> str:
    match = _QUOTED_NAME.fullmatch(lexeme)
    return match[1] if match else lexeme


# --- reflection (every dialect) -------------------------------------------------------


def reflect(connection: Connection, ignore: frozenset[str] = frozenset()) -> Schema:
    """The default schema's tables, views and sequences, minus ``ignore``.

    The ``get_multi_*`` calls fetch every table at once where the dialect can
    (one query each on PostgreSQL).
    """
    inspector = sa.inspect(connection)
    names = [name for name in inspector.get_table_names() if name not in ignore]
    schema: Schema = {
        f"table {name}": elements
        for name, elements in _reflect_tables(inspector, connection.dialect, names).items()
    }
    for view in inspector.get_view_names():
        schema[f"view {view}"] = {}
    if connection.dialect.supports_sequences:
        try:
            for sequence in inspector.get_sequence_names():
                schema[f"sequence {sequence}"] = {}
        except NotImplementedError:
            pass
    return schema


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
    inspector: sa.Inspector, names: list[str], schema: str | None = None
) -> dict[tuple[str | None, str], list[dict[str, object]]]:
    try:
        found = inspector.get_multi_check_constraints(schema=schema, filter_names=names)
    except (NotImplementedError, NotSupportedError):  # dialects without CHECK reflection
        return {}
    return {key: [dict(check) for check in value] for key, value in found.items()}


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
