"""SQL checks of ``runner lint``: render upgrades offline, parse them with sqlglot.

The whole history is rendered once per project (base to heads, Alembic's
``--sql`` mode, no connection) and split per revision on the ``-- Running
upgrade a -> b`` comments Alembic writes. Each statement is then parsed with
sqlglot in the project's dialect and matched against the SQL rules of
:mod:`runner.lint_rules`. Statements on the version table are Alembic's own
bookkeeping and are skipped.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from runner import capture
from runner.environment import ProjectEnv
from runner.errors import MigrationFailed, RunnerError
from runner.lint_rules import finding
from runner.results import LintFinding
from runner.sql_files import split_statements

# SQLAlchemy backend name -> sqlglot dialect.
SQLGLOT_DIALECTS = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "mssql": "tsql",
    "oracle": "oracle",
}
_MARKER = re.compile(r"^-- Running upgrade (?P<down>.*?) -> (?P<rev>\S+)\s*$", re.MULTILINE)
# Alembic's batch mode on SQLite copies a table through this name and renames it back.
_BATCH_TMP = "_alembic_tmp_"
# Column types that fill themselves, so NOT NULL without DEFAULT is fine.
_SELF_FILLING = {exp.DataType.Type.SERIAL, exp.DataType.Type.BIGSERIAL}
_SELF_FILLING_CONSTRAINTS = (
    exp.GeneratedAsIdentityColumnConstraint,
    exp.AutoIncrementColumnConstraint,
    exp.ComputedColumnConstraint,
)


@dataclass
class Rendered:
    """Upgrade SQL per revision id (in upgrade order) and what could not be rendered."""

    sql: dict[str, str] = field(default_factory=dict)
    failures: list[LintFinding] = field(default_factory=list)
    version_table: str = "alembic_version"


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Alembic's "Running upgrade" lines and sqlglot's parser fallbacks."""
    loggers = [logging.getLogger(n) for n in ("alembic.runtime.migration", "sqlglot")]
    before = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, state in zip(loggers, before, strict=True):
            logger.disabled = state


def render(penv: ProjectEnv, revision_count: int) -> Rendered:
    """Render every upgrade offline, once; on a failing revision, resume after it.

    A revision that needs a live database (``op.get_bind()``, SQLite batch mode
    without ``copy_from``) cannot be rendered offline; it gets a
    ``render-failed`` finding and rendering resumes from it, so one such
    revision does not hide the SQL of all the others.
    """
    rendered = Rendered(version_table=penv.config.get_main_option("version_table") or "")
    start: str | None = None
    failed: set[str] = set()
    with _quiet():
        for _ in range(revision_count + 1):
            try:
                run = penv.run(
                    lambda rev, _ctx: penv.upgrade_steps("heads", rev),
                    None,
                    as_sql=True,
                    starting_rev=start,
                    destination_rev="heads",
                )
            except RunnerError as exc:
                chunks = split_by_revision(_partial_output(penv))
                culprit = next(reversed(chunks), None) if chunks else None
                for rev, sql in chunks.items():
                    rendered.sql.setdefault(rev, sql)
                rendered.failures.append(
                    finding(
                        "render-failed",
                        f"{exc}; the rest of this revision was not checked",
                        revision=culprit,
                    )
                )
                if not isinstance(exc, MigrationFailed) or culprit is None or culprit in failed:
                    break  # env.py itself failed, or we would loop: stop here
                failed.add(culprit)
                start = culprit
                continue
            for rev, sql in split_by_revision(run.sql).items():
                rendered.sql.setdefault(rev, sql)
            rendered.version_table = run.version_table or rendered.version_table
            break
    if rendered.failures and penv.target.url.get_backend_name() == "sqlite":
        _fill_from_sqlite_run(penv, rendered)
    return rendered


def _fill_from_sqlite_run(penv: ProjectEnv, rendered: Rendered) -> None:
    """SQLite batch operations cannot be rendered offline: run the history on an empty
    throw-away database, record what it executes, and use that for those revisions."""
    with _quiet():
        sql, error = capture.upgrade_sql_partial(penv, None)
    chunks = split_by_revision(sql)
    complete = list(chunks) if error is None else list(chunks)[:-1]  # the last one failed
    recovered = {rev for rev in complete if rev not in rendered.sql or _failed(rendered, rev)}
    for rev in recovered:
        rendered.sql[rev] = chunks[rev]
    rendered.failures = [f for f in rendered.failures if f.revision not in recovered]


def _failed(rendered: Rendered, revision: str) -> bool:
    return any(f.revision == revision for f in rendered.failures)


def _partial_output(penv: ProjectEnv) -> str:
    """What env.py wrote before failing (ProjectEnv.run points output_buffer at a StringIO)."""
    buffer = penv.config.output_buffer
    return buffer.getvalue() if isinstance(buffer, io.StringIO) else ""


def split_by_revision(sql: str) -> dict[str, str]:
    """Offline SQL cut at Alembic's ``-- Running upgrade a -> b`` comments, keyed by ``b``.

    >>> split_by_revision("CREATE TABLE v;\\n-- Running upgrade  -> r1\\nCREATE TABLE t;\\n")
    {'r1': '\\nCREATE TABLE t;\\n'}
    """
    markers = list(_MARKER.finditer(sql))
    return {
        m["rev"]: sql[m.end() : markers[i + 1].start() if i + 1 < len(markers) else len(sql)]
        for i, m in enumerate(markers)
    }


# table -> {column: type}: what the revisions so far built, so that a SQLite
# batch copy (new table, copy rows, drop, rename) can be compared with the
# table it replaces. Filled in revision order by check_revision.
Schema = dict[str, dict[str, str]]


def check_revision(
    revision: str,
    sql: str,
    dialect: str,
    version_table: str,
    path: str | None,
    schema: Schema | None = None,
) -> list[LintFinding]:
    """Findings for one revision's upgrade SQL, statement by statement.

    Pass the same ``schema`` for every revision, in upgrade order, to check
    SQLite batch operations (which drop or change columns by copying tables).
    """
    state = _RevisionState(revision, dialect, path, {} if schema is None else schema)
    skip = re.compile(rf"\b(alembic_version\w*|{re.escape(version_table or 'alembic_version')})\b")
    with _quiet():
        for statement in split_statements(sql):
            if skip.search(statement.split("(", 1)[0]):
                continue  # Alembic's own version-table bookkeeping
            state.check(statement)
    return state.findings


@dataclass
class _RevisionState:
    """Walks one revision's statements; remembers the tables it creates."""

    revision: str
    dialect: str
    path: str | None
    schema: Schema
    created: set[str] = field(default_factory=set)
    findings: list[LintFinding] = field(default_factory=list)
    # batch copy target -> {new column: source column} from INSERT ... SELECT
    copies: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, rule: str, message: str, statement: str) -> None:
        shown = " ".join(statement.split())
        shown = shown if len(shown) <= 200 else shown[:197] + "..."
        self.findings.append(
            finding(rule, message, revision=self.revision, path=self.path, statement=shown)
        )

    def check(self, statement: str) -> None:
        """Parse ``statement`` and apply every SQL rule to it."""
        try:
            parsed = sqlglot.parse_one(statement, dialect=self.dialect)
        except Exception as exc:  # a third-party parser: any failure means "not checked"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.add("unparsed-sql", f"could not parse, not checked: {first}", statement)
            return
        if isinstance(parsed, exp.Command):
            self._command(parsed, statement)
        elif isinstance(parsed, exp.Create):
            self._create(parsed, statement)
        elif isinstance(parsed, exp.Drop):
            self._drop(parsed, statement)
        elif isinstance(parsed, exp.TruncateTable):
            self.add("truncate", "TRUNCATE empties the table", statement)
        elif isinstance(parsed, (exp.Delete, exp.Update)) and not parsed.args.get("where"):
            verb = "DELETE" if isinstance(parsed, exp.Delete) else "UPDATE"
            rule = "delete-without-where" if verb == "DELETE" else "update-without-where"
            self.add(rule, f"{verb} on {_name(parsed.this)} without WHERE", statement)
        elif isinstance(parsed, exp.Insert):
            self._insert(parsed)
        elif isinstance(parsed, exp.Alter):
            for action in parsed.args.get("actions") or []:
                if isinstance(action, exp.AlterRename) and _rename_to(parsed) is not None:
                    old, new = _name(action.this), _name(_rename_to(parsed))
                    message = f"renaming {_name(parsed.this)}.{old} to {new} breaks applications"
                    self.add("rename-column", message, statement)
                else:
                    self._alter(_name(parsed.this), action, statement)

    def _command(self, parsed: exp.Command, statement: str) -> None:
        # sqlglot keeps MySQL's RENAME TABLE as an opaque command.
        if str(parsed.this).upper() == "RENAME":
            self.add(
                "rename-table", "RENAME TABLE breaks applications using the old name", statement
            )
        else:
            self.add("unparsed-sql", "statement not understood by sqlglot, not checked", statement)

    def _insert(self, parsed: exp.Insert) -> None:
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
        self.copies[table] = dict(zip(columns, sources, strict=False))

    def _create(self, parsed: exp.Create, statement: str) -> None:
        kind = str(parsed.args.get("kind") or "").upper()
        if kind == "TABLE":
            table = _name(parsed.find(exp.Table))
            self.created.add(table)
            definitions = parsed.this.expressions if isinstance(parsed.this, exp.Schema) else []
            self.schema[table] = {
                _name(d.this): _type(d) for d in definitions if isinstance(d, exp.ColumnDef)
            }
        elif kind == "INDEX" and self.dialect == "postgres" and not parsed.args.get("concurrently"):
            table = _name(parsed.this.args.get("table"))
            if table not in self.created:
                self.add(
                    "blocking-index",
                    f"CREATE INDEX on existing table {table} blocks writes while it builds:"
                    " use CREATE INDEX CONCURRENTLY (op.create_index(...,"
                    " postgresql_concurrently=True) in an autocommit block)",
                    statement,
                )

    def _drop(self, parsed: exp.Drop, statement: str) -> None:
        kind = str(parsed.args.get("kind") or "").upper()
        table = _name(parsed.find(exp.Table))
        if kind == "TABLE" and _BATCH_TMP + table not in self.created:
            self.add("drop-table", f"DROP TABLE {table} loses its data", statement)
        elif kind in {"SCHEMA", "DATABASE"}:
            self.add("drop-schema", f"DROP {kind} loses everything in it", statement)

    def _batch_swap(self, table: str, statement: str) -> None:
        """``ALTER TABLE _alembic_tmp_t RENAME TO t``: compare the copy with the old ``t``."""
        original = table.removeprefix(_BATCH_TMP)
        old = self.schema.get(original, {})
        new = self.schema.pop(table, {})
        copied = self.copies.pop(table, {})
        fed = set(copied.values())
        for column in sorted(set(old) - fed):
            self.add("drop-column", f"batch copy drops column {original}.{column}: its data is"
                     " lost", statement)  # fmt: skip
        for target, source in copied.items():
            if target != source:
                self.add("rename-column", f"renaming {original}.{source} to {target} breaks"
                         " applications", statement)  # fmt: skip
            elif source in old and target in new and old[source] != new[target]:
                self.add("column-type-change", f"type change of {original}.{target}:"
                         f" {old[source]} -> {new[target]}", statement)  # fmt: skip
        self.schema[original] = new

    def _alter(self, table: str, action: exp.Expression, statement: str) -> None:
        """One action of an ALTER TABLE."""
        if isinstance(action, exp.AlterRename) and table.startswith(_BATCH_TMP):
            self._batch_swap(table, statement)
        elif isinstance(action, exp.Drop) and str(action.args.get("kind")).upper() == "COLUMN":
            column = _name(action.find(exp.Column))
            self.schema.get(table, {}).pop(column, None)
            self.add("drop-column", f"DROP COLUMN {table}.{column} loses its data", statement)
        elif isinstance(action, exp.AlterColumn) and action.args.get("dtype"):
            self.add(
                "column-type-change", f"type change of {table}.{_name(action.this)}", statement
            )
        elif isinstance(action, exp.ModifyColumn):
            self._modify(table, action, statement)
        elif isinstance(action, exp.ColumnDef) and table not in self.created:
            self.schema.setdefault(table, {})[_name(action.this)] = _type(action)
            if _not_null_without_default(action):
                self.add(
                    "add-not-null-column",
                    f"NOT NULL column {table}.{_name(action.this)} without a default: fails (or"
                    " is silently filled) on a table that has rows; add a server_default",
                    statement,
                )
        elif isinstance(action, exp.AlterRename) and not table.startswith(_BATCH_TMP):
            self.add(
                "rename-table",
                f"renaming {table} to {_name(action.this)} breaks applications using the old name",
                statement,
            )
        elif isinstance(action, exp.RenameColumn):
            old, new = _name(action.this), _name(action.args.get("to"))
            self.add(
                "rename-column", f"renaming {table}.{old} to {new} breaks applications", statement
            )

    def _modify(self, table: str, action: exp.ModifyColumn, statement: str) -> None:
        """MySQL ``MODIFY col ...`` / ``CHANGE old new ...``: a rename or a redefinition."""
        new = _name(action.this)
        old = _name(action.args.get("rename_from")) or new
        if old.lower() != new.lower():
            self.add(
                "rename-column", f"renaming {table}.{old} to {new} breaks applications", statement
            )
        else:
            self.add(
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
