"""A live schema as comparable data: reflect a database into a normalised catalog.

The catalog is :data:`runner.roundtrip.schema.Schema`, the model ``runner test``
compares (object -> element -> description), extended with what a baseline and
drift need and a round trip did not: index predicates and prefix lengths,
identity and auto-increment, view queries, sequence parameters, enum labels, and
the objects SQLAlchemy cannot express (functions, triggers, rules, events) with
their definitions. Objects are keyed ``"<kind> <name>"``; an object in a schema
other than the connection's default is ``"<kind> <schema>.<name>"``.

What is reflected, per dialect (the fingerprint covers the same, see
:mod:`runner.run.fingerprint`):

* every dialect: tables with columns (type, nullability, default), primary key,
  foreign keys (with ON DELETE/UPDATE), unique and check constraints, indexes;
  views; sequences where the dialect has them;
* SQLite: each table's, index's, view's and trigger's CREATE statement as well
  (normalised), because reflection drops parts of it (AUTOINCREMENT, expression
  indexes, foreign-key actions) and the statement is SQLite's whole definition;
* PostgreSQL: partial-index predicates, identity columns, enum types, the
  parameters of sequences no column owns, extensions, domains, materialized
  views, functions, triggers and rules;
* MySQL/MariaDB: index prefix lengths, sequences (MariaDB 10.3+), triggers,
  routines and events.

Tables and views are filtered by the include/exclude patterns of a
:class:`runner.project.objects.Scope`; the runner's own tables (version and
change log) are never part of a catalog.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runner.db.backends import backend
from runner.db.catalog_sql import CatalogSql
from runner.project.objects import Scope
from runner.roundtrip.schema import Schema, _checks, _describe_table, _sql_key


@dataclass(frozen=True)
class Program:
    """An object SQLAlchemy cannot express: a function, trigger, rule or event."""

    kind: str
    name: str
    definition: str  # the statement that recreates it; "" when the dialect hides it
    schema: str | None = None


@dataclass
class Catalog:
    """One database's schema: the comparable model and the pieces a baseline needs."""

    dialect: str
    default_schema: str | None
    schemas: list[str | None]  # None: the default schema
    schema: Schema = field(default_factory=dict)
    views: list[tuple[str | None, str, str]] = field(default_factory=list)  # schema, name, query
    sequences: list[tuple[str | None, str, str]] = field(default_factory=list)  # ..., CREATE
    enums: list[tuple[str | None, str, list[str]]] = field(default_factory=list)
    programs: list[Program] = field(default_factory=list)
    statements: list[tuple[str, str, str, str]] = field(default_factory=list)  # SQLite rows

    def tables(self) -> list[str]:
        return sorted(k.removeprefix("table ") for k in self.schema if k.startswith("table "))


def qualified(kind: str, name: str, schema: str | None) -> str:
    return f"{kind} {name}" if schema is None else f"{kind} {schema}.{name}"


def reflect(connection: Connection, scope: Scope | None = None) -> Catalog:
    """The catalog of ``connection``'s database, the objects ``scope`` keeps."""
    with warnings.catch_warnings():
        # SQLite's expression indexes: their statements are in the catalog instead.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        return _reflect(connection, scope or Scope())


def _reflect(connection: Connection, scope: Scope) -> Catalog:
    inspector = sa.inspect(connection)
    kind = backend(connection.dialect.name)
    facts = kind.catalog
    default = inspector.default_schema_name
    schemas: list[str | None] = [None if s == default else s for s in scope.schemas] or [None]
    catalog = Catalog(kind.name, default, schemas)
    if facts is not None and facts.verbatim:
        catalog.statements = _sqlite_rows(connection, scope)
    for schema in schemas:
        _tables(connection, inspector, catalog, scope, schema)
        _views(connection, inspector, catalog, scope, schema, facts)
        _sequences(connection, inspector, catalog, scope, schema, facts)
        _enums(inspector, catalog, scope, schema)
        if facts is not None:
            _programs(connection, catalog, scope, schema or default, schema, facts)
    return catalog


def _tables(connection: Connection, inspector: sa.Inspector, catalog: Catalog, scope: Scope,
            schema: str | None) -> None:  # fmt: skip
    names = [n for n in inspector.get_table_names(schema=schema) if scope.keeps(n, schema)]
    if not names:
        return
    columns = inspector.get_multi_columns(schema=schema, filter_names=names)
    pks = inspector.get_multi_pk_constraint(schema=schema, filter_names=names)
    indexes = inspector.get_multi_indexes(schema=schema, filter_names=names)
    uniques = inspector.get_multi_unique_constraints(schema=schema, filter_names=names)
    fks = inspector.get_multi_foreign_keys(schema=schema, filter_names=names)
    checks = _checks(inspector, names, schema)
    dialect = connection.dialect
    for key, cols in columns.items():
        table = key[1]
        elements = _describe_table(
            dialect, cols,  # type: ignore[arg-type]
            pks.get(key) or {},  # type: ignore[arg-type]
            indexes.get(key, []),  # type: ignore[arg-type]
            uniques.get(key, []),  # type: ignore[arg-type]
            fks.get(key, []),  # type: ignore[arg-type]
            checks.get(key, []),
        )  # fmt: skip
        for col in cols:
            extra = _column_extra(col)  # type: ignore[arg-type]
            if extra:
                elements[f"column {col['name']}"] += extra
        for ix in indexes.get(key, []):
            options = {k: v for k, v in (ix.get("dialect_options") or {}).items() if _set(v)}
            if options:
                shown = " ".join(f"{k}={_text(v)}" for k, v in sorted(options.items()))
                elements[f"index {ix['name']}"] += f" {shown}"
        catalog.schema[qualified("table", table, schema)] = elements
    for type_, name, table, sql in catalog.statements:
        if type_ in {"table", "index"} and table in names:
            element = "statement" if type_ == "table" else f"index {name} statement"
            catalog.schema[qualified("table", table, schema)][element] = _sql_key(sql)


def _column_extra(col: dict[str, object]) -> str:
    """What a column description adds to the round trip's: identity, computed, comment."""
    extra = ""
    identity = col.get("identity")
    if isinstance(identity, dict):
        shown = ",".join(f"{k}={identity[k]}" for k in sorted(identity))
        extra += f" IDENTITY({shown})"
    computed = col.get("computed")
    if isinstance(computed, dict):
        extra += f" GENERATED({computed.get('sqltext')})"
    if col.get("comment"):
        extra += f" COMMENT {col['comment']!r}"
    return extra


def _set(value: object) -> bool:
    """A reflected option that says something (not None, [], {}, False or "")."""
    if isinstance(value, (list, dict, str, bool)) or value is None:
        return bool(value)
    return True


def _text(value: object) -> str:
    return " ".join(str(value).split())


def _views(connection: Connection, inspector: sa.Inspector, catalog: Catalog, scope: Scope,
           schema: str | None, facts: CatalogSql | None) -> None:  # fmt: skip
    for name in inspector.get_view_names(schema=schema):
        if not scope.keeps(name, schema):
            continue
        query = view_query(connection, inspector, name, schema, catalog.default_schema)
        catalog.views.append((schema, name, query))
        catalog.schema[qualified("view", name, schema)] = {"query": _sql_key(query)}
    # PostgreSQL's materialized views: recreated (empty, WITH NO DATA) after the tables.
    try:
        materialized = inspector.get_materialized_view_names(schema=schema)
    except NotImplementedError:  # the dialect has none
        materialized = []
    for name in materialized:
        if not scope.keeps(name, schema):
            continue
        query = view_query(connection, inspector, name, schema, catalog.default_schema)
        quoted = connection.dialect.identifier_preparer.quote(name)
        statement = f"CREATE MATERIALIZED VIEW {quoted} AS {query.rstrip(';')} WITH NO DATA"
        catalog.programs.append(Program("matview", name, statement, schema))
        catalog.schema[qualified("matview", name, schema)] = {"query": _sql_key(query)}


_CREATE_VIEW = re.compile(r"^\s*CREATE\b.*?\bVIEW\s+(`[^`]+`|\"[^\"]+\"|\S+)\s+AS\s+", re.I | re.S)


def view_query(connection: Connection, inspector: sa.Inspector, name: str,
               schema: str | None, default: str | None) -> str:  # fmt: skip
    """A view's query alone (the SELECT), whatever shape the dialect reports it in:
    PostgreSQL gives the query; MySQL the whole CREATE with DEFINER and the like,
    SQLite its CREATE statement."""
    definition = str(inspector.get_view_definition(name, schema=schema) or "")
    found = _CREATE_VIEW.match(definition)
    query = definition[found.end() :] if found else definition
    facts = backend(connection.dialect.name).catalog
    if default and facts is not None and facts.own_qualifier:
        # Another database's copy has another name: `shop`.`orders` is `orders` there.
        query = query.replace(facts.own_qualifier.format(schema=default), "")
    return query.strip().rstrip(";").strip()


def _sequences(connection: Connection, inspector: sa.Inspector, catalog: Catalog, scope: Scope,
               schema: str | None, facts: CatalogSql | None) -> None:  # fmt: skip
    if not connection.dialect.supports_sequences:
        return
    try:
        names = inspector.get_sequence_names(schema=schema)
    except NotImplementedError:
        return
    free: dict[str, str] = {}
    if facts is not None and facts.sequences:
        where = schema or catalog.default_schema
        free = {str(n): str(p) for n, p in connection.execute(sa.text(facts.sequences),
                                                               {"schema": where})}  # fmt: skip
    show = dict(facts.show_create).get("sequence") if facts else None
    for name in names:
        if not scope.keeps(name, schema):
            continue
        described: dict[str, str] = {}
        if name in free:
            statement = free[name] or _show_create(connection, show, name, schema)
            statement = _quiet_sequence(statement)
            catalog.sequences.append((schema, name, statement))
            described["definition"] = _sql_key(statement)
        catalog.schema[qualified("sequence", name, schema)] = described


def _quiet_sequence(statement: str) -> str:
    """MariaDB's SHOW CREATE SEQUENCE ends with the storage engine: the parameters
    are what matter (and the engine is the server's default on any copy)."""
    return re.sub(r"\s+ENGINE=\w+\s*$", "", statement)


def _enums(inspector: sa.Inspector, catalog: Catalog, scope: Scope, schema: str | None) -> None:
    get_enums = getattr(inspector, "get_enums", None)  # PostgreSQL's own inspector
    if get_enums is None:
        return
    for enum in get_enums(schema=schema or catalog.default_schema):
        if not scope.keeps(enum["name"], schema):
            continue
        labels = list(enum["labels"])
        catalog.enums.append((schema, enum["name"], labels))
        catalog.schema[qualified("enum", enum["name"], schema)] = {"labels": ",".join(labels)}


def _programs(connection: Connection, catalog: Catalog, scope: Scope, where: str | None,
              schema: str | None, facts: CatalogSql) -> None:  # fmt: skip
    found: list[Program] = []
    if facts.verbatim:  # SQLite: triggers are the only such objects
        found = [Program("trigger", name, sql) for type_, name, _t, sql in catalog.statements
                 if type_ == "trigger"]  # fmt: skip
    elif facts.programs:
        rows = connection.execute(sa.text(facts.programs), {"schema": where}).all()
        shows = dict(facts.show_create)
        for kind_, name, definition in rows:
            text = str(definition or "")
            if not text and kind_ in shows:
                text = _show_create(connection, shows[kind_], str(name), schema)
            found.append(Program(str(kind_), str(name), _undefined(text), schema))
    for program in found:
        table = program.name.split(" on ", 1)[-1]
        if not (scope.keeps(program.name, schema) and scope.keeps(table, schema)):
            continue
        catalog.programs.append(program)
        catalog.schema[qualified(program.kind, program.name, schema)] = {
            "definition": _sql_key(program.definition) if program.definition else "(hidden)"
        }


def _undefined(statement: str) -> str:
    """Without ``DEFINER=`user`@`host```: the account that created an object on one
    server is no part of its definition on another."""
    return re.sub(r"\s+DEFINER\s*=\s*(`[^`]*`|'[^']*'|\S+)@(`[^`]*`|'[^']*'|\S+)", "", statement)


def _show_create(connection: Connection, template: str | None, name: str,
                 schema: str | None) -> str:  # fmt: skip
    """MySQL's SHOW CREATE ...: the statement is in the column whose name starts with
    ``Create`` (its position differs by object kind)."""
    if template is None:
        return ""
    quoted = connection.dialect.identifier_preparer.quote(name)
    if schema is not None:
        quoted = f"{connection.dialect.identifier_preparer.quote(schema)}.{quoted}"
    row = connection.exec_driver_sql(template.format(name=quoted)).mappings().first()
    if row is None:
        return ""
    for key, value in row.items():
        if str(key).lower() in _STATEMENT_COLUMNS:
            return str(value or "")
    return ""


# The column of MySQL's SHOW CREATE ... that holds the statement, by object kind.
_STATEMENT_COLUMNS = {"create table", "create procedure", "create function", "create event",
                      "sql original statement"}  # fmt: skip


def _sqlite_rows(connection: Connection, scope: Scope) -> list[tuple[str, str, str, str]]:
    """sqlite_master in creation order (rowid), the kept objects only."""
    rows = connection.exec_driver_sql(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        " AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).all()
    return [(str(t), str(n), str(tb), str(s)) for t, n, tb, s in rows if scope.keeps(str(tb))]


def names(schema: Schema, kinds: Sequence[str]) -> list[str]:
    """The objects of ``schema`` of these kinds, by name."""
    return sorted(k.split(" ", 1)[1] for k in schema if k.split(" ", 1)[0] in kinds)
