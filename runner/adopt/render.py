"""A baseline revision from a live catalog: ``upgrade()`` recreates the schema on an
empty database, ``downgrade()`` drops it again in dependency order.

PostgreSQL and MySQL/MariaDB get Alembic operations, rendered by Alembic's own
renderer from the reflected tables (``op.create_table``, ``op.create_index`` with
``postgresql_where=`` for a partial index and ``sa.text`` for an expression,
``op.create_foreign_key`` with its ON DELETE/UPDATE), in this order: enum types,
sequences no column owns, functions, tables, indexes, foreign keys (after every
table, so cycles and self-references need no care), views, triggers and rules.
What SQLAlchemy cannot express is ``op.execute`` of the definition the server
prints (``pg_get_functiondef``, ``pg_get_triggerdef``, ``SHOW CREATE TRIGGER``);
an object whose definition is hidden from this user is a comment naming it, and
listed in the command's output.

SQLite keeps every object as its CREATE statement, and reflection loses parts of
it (AUTOINCREMENT, expression indexes, foreign-key actions): its baseline replays
those statements, one ``op.execute`` each, so the copy is exact to the letter.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import ops
from sqlalchemy.engine import Connection

from runner.adopt.catalog import Catalog, Program
from runner.db.backends import backend
from runner.project.objects import Scope

# Reflected options that are the server's defaults: noise in a revision.
_NOISE = re.compile(
    r",\s*(postgresql_include=\[\]|postgresql_nulls_not_distinct=False|postgresql_with=\{\}"
    r"|postgresql_using='btree')"
)


@dataclass
class Baseline:
    """The two function bodies of a baseline revision, and what it could not render."""

    upgrade: list[str] = field(default_factory=list)
    downgrade: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    unrendered: list[str] = field(default_factory=list)  # "trigger t: definition hidden"

    def body(self, lines: Sequence[str]) -> str:
        return "\n    ".join("\n".join(lines).splitlines()) if lines else "pass"


def baseline(connection: Connection, catalog: Catalog, scope: Scope) -> Baseline:
    """The baseline of ``catalog`` (reflected from ``connection`` with ``scope``)."""
    if catalog.statements:
        return _verbatim(catalog)
    return _operations(connection, catalog, scope)


# --- SQLite: the statements themselves ---------------------------------------------

_ORDER = {"table": 0, "index": 1, "view": 2, "trigger": 3}


def _verbatim(catalog: Catalog) -> Baseline:
    out = Baseline()
    rows = sorted(catalog.statements, key=lambda r: _ORDER.get(r[0], 4))  # stable: rowid order
    out.upgrade = [execute(sql) for _type, _name, _table, sql in rows]
    for type_, name, _table, _sql in reversed(rows):
        if type_ == "index" and any(r[0] == "table" and r[1] == _table for r in rows):
            continue  # dropped with its table
        if type_ == "trigger" and any(r[0] == "table" and r[1] == _table for r in rows):
            continue
        out.downgrade.append(execute(f"DROP {type_.upper()} {_quote(name)}"))
    return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- PostgreSQL, MySQL/MariaDB: Alembic operations ---------------------------------


_BEFORE_TABLES = ("extension", "domain", "function", "procedure")


@dataclass
class _Parts:
    """The operations of a baseline, by stage, in the order they run."""

    functions: list[Program]
    others: list[Program]  # triggers, rules, events: after the tables they act on
    tables: list[ops.CreateTableOp] = field(default_factory=list)
    indexes: list[ops.CreateIndexOp] = field(default_factory=list)
    fks: list[ops.CreateForeignKeyOp] = field(default_factory=list)


def _operations(connection: Connection, catalog: Catalog, scope: Scope) -> Baseline:
    out = Baseline()
    facts = backend(catalog.dialect).catalog
    if facts is not None and facts.alembic_import:  # the renderer's dialect types need it
        out.imports.append(facts.alembic_import)
    preparer = connection.dialect.identifier_preparer
    # Extensions and domains before functions, all of them before the tables using them.
    functions = sorted((p for p in catalog.programs if p.kind in _BEFORE_TABLES),
                       key=lambda p: _BEFORE_TABLES.index(p.kind))  # fmt: skip
    parts = _Parts(functions, [p for p in catalog.programs if p not in functions])
    _split_tables(_reflected_tables(connection, catalog), catalog, parts)

    others = [s for s in catalog.schemas if s is not None]  # beside the default schema
    out.upgrade += [execute(f"CREATE SCHEMA IF NOT EXISTS {preparer.quote(s)}") for s in others]
    for schema, name, labels in catalog.enums:
        listed = ", ".join(_sql_string(label) for label in labels)
        out.upgrade.append(execute(f"CREATE TYPE {_name(preparer, name, schema)} AS ENUM"
                                   f" ({listed})"))  # fmt: skip
    for schema, name, given in catalog.sequences:
        statement = given
        if not statement.upper().startswith("CREATE"):
            statement = f"CREATE SEQUENCE {_name(preparer, name, schema)} {given}"
        out.upgrade.append(execute(statement))
    out.upgrade += [_program(program, out) for program in parts.functions]
    out.upgrade += [_rendered(op_) for op_ in [*parts.tables, *parts.indexes, *parts.fks]]
    for schema, name, query in _view_order(catalog.views):
        out.upgrade.append(execute(f"CREATE VIEW {_name(preparer, name, schema)} AS {query}"))
    out.upgrade += [_program(program, out) for program in parts.others]
    out.downgrade = _downgrade(catalog, parts, preparer)
    out.downgrade += [execute(f"DROP SCHEMA {preparer.quote(s)}") for s in reversed(others)]
    return out


def _reflected_tables(connection: Connection, catalog: Catalog) -> list[sa.Table]:
    """The catalog's tables as SQLAlchemy reflects them, in dependency order, tidied."""
    metadata = sa.MetaData()
    for schema in catalog.schemas:
        kept = [k.split(" ", 1)[1].split(".")[-1] for k in catalog.schema
                if k.startswith("table ") and _in(k, schema)]  # fmt: skip
        if kept:
            metadata.reflect(connection, schema=schema, only=kept, resolve_fks=False)
    owned = _owned_sequences(catalog)
    tables = list(metadata.sorted_tables)
    for table in tables:
        _tidy(table, owned)
    return tables


def _split_tables(tables: Sequence[sa.Table], catalog: Catalog, parts: _Parts) -> None:
    """Each table without its indexes and foreign keys, which follow all the tables."""
    facts = backend(catalog.dialect).catalog
    fk_makes_index = facts is not None and facts.fk_makes_index
    for table in tables:
        fks = [c for c in table.constraints if isinstance(c, sa.ForeignKeyConstraint)]
        fk_names = {fk.name for fk in fks}
        for fk in fks:
            table.constraints.discard(fk)
            parts.fks.append(ops.CreateForeignKeyOp.from_constraint(fk))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            # MySQL names the index it makes for a foreign key after the key: the
            # key, created after the indexes, makes it again.
            if fk_makes_index and index.name in fk_names:
                continue
            parts.indexes.append(ops.CreateIndexOp.from_index(index))
        table.indexes.clear()
        parts.tables.append(ops.CreateTableOp.from_table(table))


def _downgrade(catalog: Catalog, parts: _Parts, preparer: Any) -> list[str]:
    """The upgrade in reverse: what depends on an object is dropped before it."""
    lines = [_drop(program, preparer) for program in reversed(parts.others)]
    for schema, name, _query in reversed(_view_order(catalog.views)):
        lines.append(execute(f"DROP VIEW {_name(preparer, name, schema)}"))
    for fk in reversed(parts.fks):
        lines.append(_rendered(ops.DropConstraintOp(
            fk.constraint_name, fk.source_table, type_="foreignkey",
            schema=fk.kw.get("source_schema"),
        )))  # fmt: skip
    for table in reversed(parts.tables):
        lines.append(_rendered(ops.DropTableOp(table.table_name, schema=table.schema)))
    lines += [_drop(program, preparer) for program in reversed(parts.functions)]
    for schema, name, _statement in reversed(catalog.sequences):
        lines.append(execute(f"DROP SEQUENCE {_name(preparer, name, schema)}"))
    for schema, name, _labels in reversed(catalog.enums):
        lines.append(execute(f"DROP TYPE {_name(preparer, name, schema)}"))
    return lines


def _in(key: str, schema: str | None) -> bool:
    name = key.split(" ", 1)[1]
    return ("." in name) == (schema is not None) and (
        schema is None or name.startswith(f"{schema}.")
    )


def _owned_sequences(catalog: Catalog) -> set[str]:
    """Sequences a column owns (PostgreSQL serials): made again by the column itself."""
    free = {name for _s, name, _d in catalog.sequences}
    return {k.split(" ", 1)[1] for k in catalog.schema if k.startswith("sequence ")} - free


_NEXTVAL = re.compile(r"^nextval\('(?:\"?[\w$]+\"?\.)?\"?([\w$]+)\"?'::regclass\)$")


def _tidy(table: sa.Table, owned: set[str]) -> None:
    """A reflected table as a person would write it: a serial column is an integer key
    with autoincrement (PostgreSQL makes its sequence), enums do not create their
    type (the baseline does, once, before any table)."""
    for column in table.columns:
        default = column.server_default
        text = str(getattr(default, "arg", "")) if default is not None else ""
        found = _NEXTVAL.match(text)
        if found and found[1] in owned and column is table.autoincrement_column:
            column.server_default = None
        if hasattr(column.type, "create_type"):  # an enum or a domain
            column.type.create_type = False
        # Reflection gives a domain's NOT NULL and default to its columns: they are the
        # domain's (recreated with it), not the column's own.
        if getattr(column.type, "not_null", False):
            column.nullable = True
        domain_default = getattr(column.type, "default", None)
        if domain_default is not None and text == str(domain_default):
            column.server_default = None


def _render_item(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    from sqlalchemy.dialects import postgresql

    if type_ == "type" and isinstance(obj, postgresql.DOMAIN):  # made before the tables
        return f"postgresql.DOMAIN({obj.name!r}, sa.Text(), create_type=False)"
    if type_ == "type" and isinstance(obj, postgresql.ENUM):
        labels = ", ".join(repr(e) for e in obj.enums)
        schema = f", schema={obj.schema!r}" if obj.schema else ""
        return f"postgresql.ENUM({labels}, name={obj.name!r}{schema}, create_type=False)"
    return False


def _rendered(op_: ops.MigrateOperation) -> str:
    code = render_python_code(ops.UpgradeOps(ops=[op_]), render_item=_render_item)
    lines = [line for line in code.splitlines() if not line.strip().startswith("# ###")]
    text = "\n".join(line[4:] if line.startswith("    ") else line for line in lines).strip()
    return _NOISE.sub("", text)


def _view_order(views: Sequence[tuple[str | None, str, str]]) -> list[tuple[str | None, str, str]]:
    """Views that others read from first (as listed otherwise)."""
    ordered: list[tuple[str | None, str, str]] = []
    pending = list(views)
    while pending:
        for view in pending:
            others = [v for v in pending if v is not view]
            if not any(re.search(rf"\b{re.escape(o[1])}\b", view[2]) for o in others):
                break
        else:
            view = pending[0]  # a cycle cannot be; keep the listed order
        ordered.append(view)
        pending.remove(view)
    return ordered


def _program(program: Program, out: Baseline) -> str:
    if program.definition:
        return execute(program.definition)
    out.unrendered.append(f"{program.kind} {program.name}: its definition is hidden from this"
                          " database user; recreate it by hand")  # fmt: skip
    return f"# {program.kind} {program.name}: definition not readable; recreate it by hand"


def _drop(program: Program, preparer: Any) -> str:
    if not program.definition:
        return f"# {program.kind} {program.name}: drop it by hand"
    if " on " in program.name:  # PostgreSQL trigger or rule: "name on table"
        name, table = program.name.split(" on ", 1)
        return execute(f"DROP {program.kind.upper()} {preparer.quote(name)} ON"
                       f" {preparer.quote(table)}")  # fmt: skip
    if program.kind == "matview":
        return execute(f"DROP MATERIALIZED VIEW {preparer.quote(program.name)}")
    if program.kind in ("function", "procedure") and program.name.endswith(")"):
        return execute(f"DROP {program.kind.upper()} {program.name}")  # PostgreSQL: f(args)
    return execute(f"DROP {program.kind.upper()} {preparer.quote(program.name)}")


def _name(preparer: Any, name: str, schema: str | None) -> str:
    quoted = preparer.quote(name)
    return f"{preparer.quote(schema)}.{quoted}" if schema else quoted


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# A colon before a word would be a bind parameter to op.execute's text(): escaped.
_BIND = re.compile(r"(?<![:\w\\]):(?=\w)")


def execute(sql: str) -> str:
    """``op.execute(...)`` of ``sql``, one Python string literal per line."""
    escaped = _BIND.sub(r"\\:", sql.strip().rstrip(";").rstrip())
    lines = escaped.splitlines(keepends=True) or [""]
    if len(lines) == 1 and len(lines[0]) < 80:
        return f"op.execute({lines[0]!r})"
    parts = "\n".join(f"    {line!r}" for line in lines)
    return f"op.execute(\n{parts}\n)"


# --- --sql: the same operations as SQL ---------------------------------------------


def as_sql(body: str, imports: Sequence[str], dialect: str) -> str:
    """The SQL that a function body of operations runs, rendered offline by Alembic."""
    from alembic import op
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name=dialect,
        opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True},
    )
    namespace: dict[str, Any] = {"op": op, "sa": sa}
    for line in imports:
        exec(line, namespace)  # our own import lines
    source = "def _run():\n    " + body + "\n"
    exec(source, namespace)  # the operations we rendered
    with Operations.context(context):
        namespace["_run"]()
    return buffer.getvalue()
