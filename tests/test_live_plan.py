"""Plans that know the live database: a table of known size (20000 rows, analysed) shows
its figures in the plan's text, JSON and markdown, as the database itself reports them;
on PostgreSQL a session holding a lock on it shows up, and a blocking index build on it
is an error above large_table_rows and info below small_table_rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import Runner
from tests.databases import Database, ServerPool
from tests.test_guards import SERVERS, _declare, blocker

ROWS = 20000
INDEX = '''"""index orders.note"""

from alembic import op

revision = "a3"
down_revision = "a2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_note", "orders", ["note"])


def downgrade() -> None:
    op.drop_index("ix_orders_note", "orders")
'''


def _fill(db: Database) -> tuple[int, int]:
    """20000 rows in orders, analysed; what the database's own catalogue says then."""
    engine = sa.create_engine(db.url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO orders (id) VALUES (:i)"),
                               [{"i": i} for i in range(1, ROWS + 1)])  # fmt: skip
        with engine.connect() as connection:
            if db.backend == "postgresql":
                connection.exec_driver_sql("ANALYZE orders")
                row = connection.exec_driver_sql(
                    "SELECT reltuples::bigint, pg_total_relation_size(oid) FROM pg_class"
                    " WHERE oid = 'orders'::regclass"
                ).one()
            else:
                connection.exec_driver_sql("ANALYZE TABLE orders").all()
                row = connection.exec_driver_sql(
                    "SELECT TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders'"
                ).one()
            connection.commit()
    finally:
        engine.dispose()
    return int(row[0]), int(row[1])


def _project(root: Path, run: Runner, db: Database) -> None:
    _declare(root, db.backend, "large_table_rows = 10000\n[env.small]\nsmall_table_rows = 50000")
    (root / "projects" / "alpha" / "versions" / "a3_index.py").write_text(INDEX)
    run.env["ALPHA_DEV_DATABASE_URL"] = run.env["ALPHA_SMALL_DATABASE_URL"] = db.url_string


@pytest.mark.parametrize("backend", SERVERS)
def test_a_plan_shows_the_size_of_the_tables_it_touches(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path, backend: str
) -> None:
    with servers.fresh(backend, tmp_path) as db:
        _project(root, run, db)
        assert run.subprocess("upgrade", "alpha", "a1").code == 0
        rows, size = _fill(db)
        assert ROWS * 0.5 <= rows <= ROWS * 1.5  # an estimate, but of these rows

        planned = run.subprocess("plan", "alpha", "--json")
        assert planned.code == 0, planned.output
        live = json.loads(planned.out)["projects"][0]["live"]
        [table] = live["tables"]
        assert (table["name"], table["rows"], table["bytes"]) == ("orders", rows, size)
        touched = [(s["revision"], s["tables"]) for s in live["statements"]]
        assert touched == [("a2", ["orders"]), ("a3", ["orders"])]  # not the version table

        text = run.subprocess("plan", "alpha").out
        assert f"-- live: orders: ~{rows} rows" in text  # after each statement
        assert text.count("-- live: orders:") == 2
        markdown = run.subprocess("plan", "alpha", "--format", "markdown").out
        assert f"| `orders` | ~{rows} |" in markdown

        # The saved plan is unchanged by the annotation: apply accepts it.
        saved = tmp_path / "plan.json"
        assert run.subprocess("plan", "alpha", "--out", str(saved)).code == 0
        applied = run.subprocess("apply", str(saved))
        assert applied.code == 0, applied.output


@pytest.mark.postgresql
def test_a_plan_names_lock_holders_and_judges_by_size(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path
) -> None:
    with servers.fresh("postgresql", tmp_path) as db:
        _project(root, run, db)
        assert run.subprocess("upgrade", "alpha", "a2").code == 0
        _fill(db)
        with blocker(db, 60.0) as seen:  # held until both plans are made
            planned = run.subprocess("plan", "alpha", "--json")
            text = run.subprocess("plan", "alpha").out
        assert planned.code == 0, planned.output
        result = json.loads(planned.out)["projects"][0]
        [table] = result["live"]["tables"]
        [session] = table["sessions"]
        assert session["pid"] == seen["pid"]
        assert session["locks"] == ["AccessShareLock"]
        assert session["state"] == "idle in transaction"
        assert session["transaction_seconds"] is not None
        assert f"held by pid {seen['pid']}" in text
        assert "SELECT COUNT" not in text  # the holder's query is never shown

        # 20000 rows is at least large_table_rows = 10000 on dev: the index build is an error.
        [finding] = [f for f in result["findings"] if f["rule"] == "blocking-index"]
        assert finding["severity"] == "error"
        [change] = result["live"]["severity_changes"]
        assert (change["rule"], change["was"], change["now"]) == ("blocking-index", "warning",
                                                                  "error")  # fmt: skip
        assert "orders is large" in change["why"]
        assert "(raised from warning: orders is large" in text

        # Below small_table_rows = 50000 (env small), the same finding is only a note.
        small = json.loads(run.subprocess("plan", "alpha", "--env", "small", "--json").out)
        [finding] = [f for f in small["projects"][0]["findings"] if f["rule"] == "blocking-index"]
        assert finding["severity"] == "info"


def test_only_size_sensitive_warnings_move_and_errors_never_drop() -> None:
    from runner.db.target import SizeLimits
    from runner.lint.rules import grows_with_table
    from runner.output.live_results import LivePlan, StatementTables, TableFacts
    from runner.output.results import LintFinding
    from runner.run.live import judge

    statement = "CREATE INDEX ix ON t (a)"
    live = LivePlan("test", [TableFacts("t", 5, 8192)],
                    [StatementTables("r1", statement, ["t"], 10)])  # fmt: skip
    findings = [
        LintFinding("blocking-index", "warning", "m", "r1", statement=statement),
        LintFinding("drop-table", "error", "m", "r1", statement=statement),
        LintFinding("blocking-index", "warning", "m", "r2", statement=statement),  # no figures
    ]
    judged, changes = judge(findings, live, SizeLimits(), grows_with_table())
    assert [f.severity for f in judged] == ["info", "error", "warning"]
    assert [(c.rule, c.was, c.now) for c in changes] == [("blocking-index", "warning", "info")]
    judged, _ = judge(findings, live, SizeLimits(large_rows=5), grows_with_table())
    assert [f.severity for f in judged] == ["error", "error", "warning"]


@pytest.mark.parametrize(
    ("statement", "exempt"),
    [
        ("CREATE INDEX CONCURRENTLY ix ON t (a)", True),
        ("create unique index concurrently if not exists ix on t (a)", True),
        ("DROP INDEX CONCURRENTLY ix", True),
        ("REINDEX INDEX CONCURRENTLY ix", True),
        ("ALTER TABLE t DETACH PARTITION t1 CONCURRENTLY", True),
        ("CREATE INDEX ix ON t (a)", False),
        ("ALTER TABLE concurrently_used ADD COLUMN a int", False),
        ("UPDATE t SET note = 'CONCURRENTLY'", False),
    ],
)
def test_which_statements_run_without_the_lock_wait(statement: str, exempt: bool) -> None:
    import re

    from runner.db.backends import POSTGRESQL

    assert POSTGRESQL.lock_exempt is not None
    found = re.search(POSTGRESQL.lock_exempt, statement, re.IGNORECASE | re.DOTALL)
    assert bool(found) is exempt
