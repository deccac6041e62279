"""Facts about each kind of database, in one table, asked for by name.

Every difference between SQLite, PostgreSQL and MySQL/MariaDB that the runner
acts on is an attribute of one frozen :class:`Backend` record. The rest of the
runner asks the record (``backend.transactional_ddl``, ``backend.lock``) and
never compares dialect names: adding a dialect is adding a record here.
Alembic works the same way (one ``DefaultImpl`` subclass per dialect in
``alembic/ddl/impl.py``, with ``transactional_ddl`` as a class attribute).

Other SQLAlchemy dialects (SQL Server, Oracle, ...) get a generic record built
on demand: no lock (the write path warns), transactional DDL as Alembic's own
implementation for that dialect says, and nothing else special.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.db import catalog_sql
from runner.db.catalog_sql import CatalogSql


class LockKind(enum.Enum):
    """How runners of one project are kept apart on a database."""

    ADVISORY = "advisory"  # PostgreSQL pg_try_advisory_lock, session-scoped
    NAMED = "named"  # MySQL/MariaDB GET_LOCK, session-scoped
    FILE = "file"  # SQLite: flock on <file>.lock, then BEGIN IMMEDIATE
    NONE = "none"  # unknown dialects: the user must keep runs apart


@dataclass(frozen=True)
class Backend:
    """What the runner needs to know about one kind of database."""

    name: str  # canonical name, as users write it (--db, --dialect, targets files)
    label: str  # for people: "PostgreSQL"
    # SQLAlchemy backend names that are this backend (URL schemes, dialect.name).
    aliases: tuple[str, ...] = ()
    # URL schemes users still write that SQLAlchemy 2 no longer loads ("postgres").
    legacy_schemes: tuple[str, ...] = ()
    # The driver the runner ships: a bare "postgresql://" means psycopg2 to
    # SQLAlchemy, which is not installed; we use this one instead.
    default_driver: str | None = None
    sqlglot_dialect: str | None = None
    # DDL runs inside a transaction and rolls back with it (Alembic's
    # impl.transactional_ddl). When false, a failed run can leave half a revision.
    transactional_ddl: bool = True
    lock: LockKind = LockKind.NONE
    # A file, not a server: no host, a path; "missing" until first written.
    file_based: bool = False
    # The driver's own transaction handling is wrong for migrations (pysqlite
    # commits before DDL): the runner switches it off and emits BEGIN itself.
    emulated_begin: bool = False
    # Alembic's offline (--sql) mode renders every operation. False for SQLite,
    # whose batch operations reflect a live table: plans run on a copy instead.
    renders_offline: bool = True
    # env.py uses Alembic's batch mode (ALTER emulated by copying the table).
    batch_alter: bool = False
    # SQLAlchemy keyword arguments of the tables the runner creates (its change log).
    # Each backend names only its own: naming a dialect's options makes SQLAlchemy
    # import that dialect, whatever database the run is on.
    table_options: tuple[tuple[str, str], ...] = ()
    # Connect arguments: how long to wait for the server, and (SQLite) for a
    # writer's lock; drivers that take an application_name for pg_stat_activity.
    connect_timeout_arg: str | None = None
    busy_timeout_arg: str | None = None
    application_name_drivers: frozenset[str] = frozenset()
    # Throw-away databases for tests and `runner test`: the admin URL variable,
    # the container image (the official one; the variable names another, such as a
    # local build of docker/db-images.sh where no registry answers), and what DROP
    # DATABASE needs to end open sessions.
    test_server_variable: str | None = None
    container_image: str | None = None
    container_image_variable: str | None = None
    # The testcontainers class ("module:Class") and its keyword arguments.
    container_class: str | None = None
    container_kwargs: tuple[tuple[str, str], ...] = ()
    drop_database_suffix: str = ""
    # A CI job's throw-away server (GitLab `services:`): the variable naming its image
    # (default: container_image), the service's alias, the variables the image wants,
    # and the admin URL a job reaches it at.
    ci_image_variable: str | None = None
    ci_service_alias: str | None = None
    ci_service_env: tuple[tuple[str, str], ...] = ()
    ci_service_url: str | None = None
    # The schema's whole definition is in a catalog table of CREATE statements
    # (sqlite_master): snapshots compare those instead of reflecting.
    catalog_of_statements: bool = False
    # PRAGMAs that make a throw-away database fast (no fsync): it is dropped anyway.
    scratch_pragmas: tuple[str, ...] = ()
    # Longest identifier the server accepts (None: no practical limit).
    max_identifier_length: int | None = None
    # A target's session settings, as SQL run on each new connection. Templates take
    # {ms} (milliseconds), {s} (seconds) and {whole} (whole seconds, at least 1).
    # The statement timeout is per server flavour: (word in SELECT VERSION(), SQL),
    # the first whose word the version contains ("" matches any).
    statement_timeout_sql: tuple[tuple[str, str], ...] = ()
    # The deploy guard (docs in runner/db/guard.py): how long a statement may wait for a
    # table lock (each template run in turn), the driver error codes (SQLSTATE, or
    # MySQL's error number) of a statement that gave up waiting, statements that must
    # run without the lock wait (a regular expression, matched case-insensitively),
    # and the SQL that lifts the wait for them.
    lock_wait_sql: tuple[str, ...] = ()
    lock_timeout_errors: tuple[str, ...] = ()
    lock_exempt: str | None = None
    lock_wait_off_sql: str | None = None
    search_path_sql: str | None = None  # {schema}, already checked as an identifier
    # Catalog queries for adopt, drift and the schema fingerprint (None: the
    # Inspector alone, and no fingerprint).
    catalog: CatalogSql | None = None
    # Lint: the server versions rules depend on. ``server_flavours`` are (flavour, label,
    # first major version, version assumed when targets.toml declares none), newest
    # numbering first: MariaDB shares the mysql dialect but numbers from 10.
    server_flavours: tuple[tuple[str, str, int, str], ...] = ()

    def flavour(self, server_version: str | None) -> tuple[str, str, str]:
        """(flavour, label, version) of this backend's server: the declared version, or
        the flavour's default. A version naming a flavour (``10.11-MariaDB``) picks it."""
        import re

        if not self.server_flavours:
            return self.name, self.label, server_version or ""
        if server_version is None:
            name, label, _, default = self.server_flavours[-1]
            return name, label, default
        numbers = re.findall(r"\d+", server_version)
        major = int(numbers[0]) if numbers else 0
        for name, label, since, _ in self.server_flavours:
            if name in server_version.lower() or major >= since:
                return name, label, server_version
        name, label, _, _ = self.server_flavours[-1]
        return name, label, server_version

    # What a plan reads of a live table (runner/run/live.py), bound by name: :name and
    # :schema (or NULL) as the database stores them, :qualified the quoted
    # "schema"."name" (PostgreSQL's to_regclass follows the search_path without one).
    # Size: one row (estimated rows, total bytes; NULL when unknown). Holders:
    # one row per session holding or awaiting a lock on it (pid, user, application,
    # state, seconds its transaction is open, lock mode, granted) - never its query.
    # Open transactions: (pid, user, application, state, seconds open) of every other
    # session in a transaction, where locks per table cannot be read (MySQL's metadata
    # locks without performance_schema): who may be the blocker.
    table_size_sql: str | None = None
    lock_holders_sql: str | None = None
    open_transactions_sql: str | None = None
    size_source: str = ""  # where the figures come from, for people

    @property
    def drivername(self) -> str:
        """SQLAlchemy ``drivername`` with the shipped driver (``postgresql+psycopg``)."""
        return f"{self.name}+{self.default_driver}" if self.default_driver else self.name

    def connect_args(
        self, driver: str, application_name: str, lock_timeout: float
    ) -> dict[str, Any]:
        """Driver arguments for one runner connection."""
        args: dict[str, Any] = {}
        if driver in self.application_name_drivers:
            args["application_name"] = application_name
        if self.connect_timeout_arg:
            args[self.connect_timeout_arg] = 10
        if self.busy_timeout_arg:
            args[self.busy_timeout_arg] = lock_timeout
        return args

    def lock_wait_statements(self, seconds: float) -> list[str]:
        """The statements that set the lock wait to ``seconds``."""
        return [_seconds(template, seconds) for template in self.lock_wait_sql]

    def lock_timed_out(self, exc: BaseException) -> bool:
        """Whether driver error ``exc`` is a statement that gave up waiting for a lock."""
        return bool(self.lock_timeout_errors) and error_code(exc) in self.lock_timeout_errors

    def session_sql(
        self,
        statement_timeout: float | None,
        lock_wait: float | None,
        schema: str | None,
        version: Callable[[], str],
    ) -> list[str]:
        """The statements that give a connection a target's session settings; ``version``
        is asked (once) only when the statement depends on the server's flavour.
        A setting this backend cannot apply is a :class:`ValueError` naming it."""
        statements = []
        if statement_timeout is not None:
            if not self.statement_timeout_sql:
                raise ValueError(f"statement_timeout is not supported on {self.label}")
            found = version().lower() if len(self.statement_timeout_sql) > 1 else ""
            template = next(t for word, t in self.statement_timeout_sql if word in found)
            statements.append(_seconds(template, statement_timeout))
        if lock_wait is not None:
            if not self.lock_wait_sql:
                raise ValueError(f"db_lock_timeout is not supported on {self.label}")
            statements += self.lock_wait_statements(lock_wait)
        if schema is not None:
            if not self.search_path_sql:
                raise ValueError(f"schema is not supported on {self.label}")
            statements.append(self.search_path_sql.format(schema=schema))
        return statements


def error_code(exc: BaseException) -> str | None:
    """The server's code for a driver error (wrapped by SQLAlchemy or not): PostgreSQL's
    SQLSTATE (psycopg ``sqlstate``, psycopg2 ``pgcode``), MySQL's error number."""
    original = getattr(exc, "orig", None) or exc
    args = getattr(original, "args", ())
    if args and isinstance(args[0], int):  # MySQL drivers: (number, message); their
        return str(args[0])  # sqlstate, where set, is the generic HY000
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return str(state) if state else None


def _seconds(template: str, seconds: float) -> str:
    return template.format(ms=int(seconds * 1000), s=f"{seconds:g}", whole=max(1, round(seconds)))


SQLITE = Backend(
    name="sqlite",
    label="SQLite",
    sqlglot_dialect="sqlite",
    lock=LockKind.FILE,
    file_based=True,
    emulated_begin=True,
    renders_offline=False,
    batch_alter=True,
    busy_timeout_arg="timeout",
    catalog_of_statements=True,
    scratch_pragmas=("PRAGMA journal_mode = MEMORY", "PRAGMA synchronous = OFF"),
    catalog=catalog_sql.SQLITE,
)
POSTGRESQL = Backend(
    name="postgresql",
    label="PostgreSQL",
    aliases=("postgres",),
    legacy_schemes=("postgres",),
    default_driver="psycopg",
    sqlglot_dialect="postgres",
    lock=LockKind.ADVISORY,
    connect_timeout_arg="connect_timeout",
    application_name_drivers=frozenset({"psycopg", "psycopg2"}),
    test_server_variable="RUNNER_TEST_POSTGRES_URL",
    container_image="postgres:16",
    container_image_variable="RUNNER_TEST_POSTGRES_IMAGE",
    container_class="testcontainers.community.postgres:PostgresContainer",
    container_kwargs=(("driver", "psycopg"),),
    drop_database_suffix=" WITH (FORCE)",
    ci_image_variable="RUNNER_POSTGRES_IMAGE",
    ci_service_alias="postgres",
    # trust: a throw-away server only this job reaches
    ci_service_env=(("POSTGRES_HOST_AUTH_METHOD", "trust"),),
    ci_service_url="postgresql://postgres@postgres:5432/postgres",
    max_identifier_length=63,
    statement_timeout_sql=(("", "SET statement_timeout = {ms}"),),
    lock_wait_sql=("SET lock_timeout = {ms}",),
    lock_timeout_errors=("55P03",),  # lock_not_available
    # These wait, by design, for every older transaction (a lock wait too): under a lock
    # timeout they fail halfway and leave an INVALID index behind.
    lock_exempt=r"^\s*(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX|ALTER\s+TABLE)\b"
    r"[^;]*\bCONCURRENTLY\b",
    lock_wait_off_sql="SET lock_timeout = 0",
    search_path_sql='SET search_path TO "{schema}"',
    catalog=catalog_sql.POSTGRESQL,
    # The oldest release line still supported upstream (2026): version rules err old.
    server_flavours=(("postgresql", "PostgreSQL", 0, "14"),),
    table_size_sql=(
        "SELECT CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END,"
        " pg_total_relation_size(c.oid) FROM pg_class c"
        " WHERE c.oid = to_regclass(:qualified)"
    ),
    lock_holders_sql=(
        "SELECT a.pid, a.usename, a.application_name, a.state,"
        " EXTRACT(EPOCH FROM now() - a.xact_start)::int, l.mode, l.granted"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'relation' AND l.pid <> pg_backend_pid()"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.relation = to_regclass(:qualified)"
        " ORDER BY a.xact_start NULLS LAST, a.pid, l.mode"
    ),
    size_source="pg_class.reltuples, pg_total_relation_size",
)
MYSQL = Backend(
    name="mysql",
    label="MySQL/MariaDB",
    aliases=("mariadb",),
    default_driver="pymysql",
    sqlglot_dialect="mysql",
    transactional_ddl=False,
    lock=LockKind.NAMED,
    # Whatever the database's default character set (latin1 is common on MariaDB), any
    # message or name in the change log must fit.
    table_options=(("mysql_charset", "utf8mb4"), ("mysql_collate", "utf8mb4_bin")),
    connect_timeout_arg="connect_timeout",
    test_server_variable="RUNNER_TEST_MYSQL_URL",
    container_image="mariadb:11",
    container_image_variable="RUNNER_TEST_MYSQL_IMAGE",
    container_class="testcontainers.community.mysql:MySqlContainer",
    # As root: the image grants MYSQL_USER rights on MYSQL_DATABASE only, and a
    # throw-away database needs CREATE DATABASE.
    container_kwargs=(("dialect", "pymysql"), ("username", "root")),
    ci_image_variable="RUNNER_MARIADB_IMAGE",
    ci_service_alias="mariadb",
    ci_service_env=(("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "1"),),
    ci_service_url="mysql://root@mariadb:3306/mysql",
    max_identifier_length=64,
    # MariaDB bounds every statement (seconds); MySQL only SELECTs (milliseconds).
    statement_timeout_sql=(
        ("mariadb", "SET SESSION max_statement_time = {s}"),
        ("", "SET SESSION max_execution_time = {ms}"),
    ),
    catalog=catalog_sql.MYSQL,
    server_flavours=(("mariadb", "MariaDB", 10, "10.6"), ("mysql", "MySQL", 0, "8.0")),
    # Metadata locks (every DDL) and InnoDB row locks (a data migration's UPDATE).
    lock_wait_sql=(
        "SET SESSION lock_wait_timeout = {whole}",
        "SET SESSION innodb_lock_wait_timeout = {whole}",
    ),
    lock_timeout_errors=("1205",),  # ER_LOCK_WAIT_TIMEOUT: metadata lock or row lock
    table_size_sql=(
        "SELECT TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES"
        " WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name"
    ),
    open_transactions_sql=(
        "SELECT p.ID, p.USER, p.HOST, p.COMMAND, TIMESTAMPDIFF(SECOND, t.trx_started, NOW())"
        " FROM information_schema.INNODB_TRX t"
        " JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id"
        " WHERE p.ID <> CONNECTION_ID() ORDER BY t.trx_started"
    ),
    size_source="information_schema.TABLES (TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH)",
)

KNOWN: tuple[Backend, ...] = (SQLITE, POSTGRESQL, MYSQL)
NAMES: tuple[str, ...] = tuple(b.name for b in KNOWN)  # choices for --db and --dialect
_BY_NAME = {alias: b for b in KNOWN for alias in (b.name, *b.aliases)}
# SQLAlchemy dialect names to sqlglot's, for dialects without a record of their own.
_SQLGLOT_ELSEWHERE = {"mssql": "tsql", "oracle": "oracle"}


@functools.cache
def backend(name: str) -> Backend:
    """The record for a SQLAlchemy backend or dialect name (``mariadb`` is MySQL)."""
    found = _BY_NAME.get(name)
    if found is not None:
        return found
    return Backend(
        name=name,
        label=name,
        sqlglot_dialect=_SQLGLOT_ELSEWHERE.get(name),
        transactional_ddl=_alembic_transactional_ddl(name),
    )


def _alembic_transactional_ddl(name: str) -> bool:
    """Whether Alembic's implementation for dialect ``name`` runs DDL in a transaction."""
    from alembic.ddl import impl  # importing alembic.ddl registers every dialect's impl

    try:
        found = impl.DefaultImpl.get_by_dialect(_Named(name))  # type: ignore[arg-type]
    except KeyError:  # a dialect Alembic has no implementation for
        found = impl.DefaultImpl
    return bool(found.transactional_ddl)


@dataclass(frozen=True)
class _Named:
    """Just enough of a SQLAlchemy dialect for Alembic's implementation lookup."""

    name: str


# Which package to install for a driver SQLAlchemy could not import.
DRIVER_PACKAGES = {
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]",
    "asyncpg": "asyncpg",
    "pg8000": "pg8000",
    "pymysql": "PyMySQL",
    "mysqldb": "mysqlclient",
    "mysqlconnector": "mysql-connector-python",
    "mariadbconnector": "mariadb",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
    "oracledb": "oracledb",
    "cx_oracle": "cx_Oracle",
}
