"""Lint parses a CREATE TABLE only when something reads its columns: the name it reads
without parsing must be the name sqlglot gives, or later checks look up the wrong table."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from runner.db.backends import backend
from runner.lint import sql

NAMES = [
    "CREATE TABLE accounts (id INTEGER)",
    "create table Accounts(id int)",
    'CREATE TABLE "Mixed Case" (id INTEGER)',
    'CREATE TABLE IF NOT EXISTS billing."Invoices" (id INTEGER)',
    "CREATE TABLE `weird name` (id INT)",
    "CREATE TABLE shop.orders (id INT, customer_id INT REFERENCES customers (id))",
    "CREATE TABLE _alembic_tmp_people (id INTEGER NOT NULL, name VARCHAR(20))",
    "CREATE  TABLE\n  spaced\n  (id INTEGER)",
]


def _quoted_as(dialect: str, statement: str) -> bool:
    """Backticks quote names in MySQL and SQLite; double quotes in PostgreSQL and SQLite."""
    return not ("`" in statement and dialect == "postgresql") and not (
        '"' in statement and dialect == "mysql"
    )


@pytest.mark.parametrize(
    ("dialect", "statement"),
    [(d, s) for d in ("postgresql", "mysql", "sqlite") for s in NAMES if _quoted_as(d, s)],
)
def test_the_name_read_without_parsing_is_sqlglots(dialect: str, statement: str) -> None:
    parsed = sqlglot.parse_one(statement, dialect=backend(dialect).sqlglot_dialect or None)
    assert sql.deferred_create(statement) == sql._name(parsed.find(exp.Table))


@pytest.mark.parametrize(
    "statement",
    ["CREATE TABLE t AS SELECT 1", "CREATE TEMPORARY TABLE t (id INT)", "CREATE INDEX i ON t (a)"],
)
def test_other_creates_are_parsed_at_once(statement: str) -> None:
    assert sql.deferred_create(statement) is None


def test_a_batch_copy_reads_columns_of_a_table_created_revisions_before() -> None:
    kind = backend("sqlite")
    schema = sql.Schema()
    sql.check_revision("r1", "CREATE TABLE people (id INTEGER, nickname VARCHAR(20));",
                       kind, "alembic_version", None, schema)  # fmt: skip
    sql.check_revision("r2", "CREATE TABLE unrelated (id INTEGER);", kind, "alembic_version",
                       None, schema)  # fmt: skip
    copy = (
        "CREATE TABLE _alembic_tmp_people (id INTEGER);\n"
        "INSERT INTO _alembic_tmp_people (id) SELECT people.id FROM people;\n"
        "DROP TABLE people;\n"
        "ALTER TABLE _alembic_tmp_people RENAME TO people;\n"
    )
    found = sql.check_revision("r3", copy, kind, "alembic_version", None, schema)
    assert [(f.rule, f.message) for f in found if f.rule == "drop-column"] == [
        ("drop-column", "batch copy drops column people.nickname: its data is lost")
    ]
