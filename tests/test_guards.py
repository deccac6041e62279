"""The deploy guard on real servers: a revision whose ALTER waits behind a long
transaction gives up after the lock wait, rolls back, and is tried again, so other
sessions' reads of the table are never queued for long; without the guard they are
queued for as long as the blocker runs. Each test holds a lock from another session
(threads), and times the reads it measures with generous slack."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import BACKENDS, CONCURRENT_INDEX, Runner, load_scenario
from tests.databases import Database, ServerPool
from tests.reliability.catalogue import case

SERVERS = [b for b in BACKENDS if b.id != "sqlite"]


def _declare(root: Path, backend: str, settings: str) -> None:
    load_scenario("two_projects", root)
    (root / "projects" / "alpha" / "targets.toml").write_text(
        f'dialect = "{backend}"\ndefault = "dev"\n[env.dev]\n{settings}\n'
    )


def _engine(db: Database) -> sa.Engine:
    return sa.create_engine(db.url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")


@contextmanager
def blocker(db: Database, seconds: float, sql: str = "SELECT COUNT(*) FROM orders"
            ) -> Iterator[dict[str, int]]:  # fmt: skip
    """Another session with a transaction open on ``orders`` for ``seconds`` (it read the
    table: PostgreSQL ACCESS SHARE, MySQL a shared metadata lock), or until the block
    ends; yields its pid."""
    ready, stop, seen = threading.Event(), threading.Event(), {"pid": 0}
    engine = sa.create_engine(db.url, poolclass=sa.pool.NullPool)

    def hold() -> None:
        with engine.connect() as connection:
            pid_sql = (
                "SELECT pg_backend_pid()"
                if db.backend == "postgresql"
                else "SELECT CONNECTION_ID()"
            )
            seen["pid"] = int(connection.exec_driver_sql(pid_sql).scalar_one())
            connection.exec_driver_sql(sql)
            ready.set()
            stop.wait(seconds)
            connection.rollback()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert ready.wait(10), "the blocker did not start"
    try:
        yield seen
    finally:
        stop.set()
        thread.join(seconds + 10)
        engine.dispose()


@contextmanager
def reader(db: Database) -> Iterator[list[float]]:
    """A third session reading ``orders`` over and over: yields the durations of its reads
    (each a fresh autocommit SELECT), filled while the block runs."""
    waits: list[float] = []
    stop = threading.Event()
    engine = _engine(db)

    def read() -> None:
        with engine.connect() as connection:
            while not stop.is_set():
                started = time.monotonic()
                connection.exec_driver_sql("SELECT COUNT(*) FROM orders").all()
                waits.append(time.monotonic() - started)
                time.sleep(0.05)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield waits
    finally:
        stop.set()
        thread.join(30)
        engine.dispose()


def _log(run: Runner) -> list[dict[str, object]]:
    out = run.subprocess("log", "alpha", "--json")
    assert out.code == 0, out.output
    rows: list[dict[str, object]] = json.loads(out.out)["projects"][0]["entries"]
    # Each write that ran a step ends with a schema fingerprint row (tests/test_adopt.py).
    return [row for row in rows if row["direction"] != "fingerprint"]


@case(
    "faults",
    "a revision's ALTER waits behind a long transaction on its table (the deploy guard)",
    exit_code="0",
    message="lock timeout: upgrade a1 -> a2 ... waited 1 s for orders (held by pid ...); rolled"
    " back (attempt 1 of 8), trying again in ... s",
    database="a2 once the blocker ends; meanwhile reads of the table wait at most about the"
    " lock wait (1 s); with db_lock_timeout = 0 they wait as long as the blocker runs",
    log="a lock-timeout row per failed attempt (rolled back, nothing kept), then the success",
    backends="PostgreSQL, MariaDB",
)
@pytest.mark.parametrize("backend", SERVERS)
def test_a_blocked_alter_retries_and_never_queues_readers(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path, backend: str
) -> None:
    with servers.fresh(backend, tmp_path) as db:
        _declare(root, db.backend, "lock_retries = 7\nlock_retry_backoff = 0.3\n"
                 "db_lock_timeout = 1")  # fmt: skip
        run.env["ALPHA_DEV_DATABASE_URL"] = db.url_string
        assert run.subprocess("upgrade", "alpha", "a1").code == 0
        hold = 4.0
        with blocker(db, hold) as seen, reader(db) as waits:
            started = time.monotonic()
            guarded = run("upgrade", "alpha")  # in-process: no start-up time inside the hold
            took = time.monotonic() - started
        assert guarded.code == 0, guarded.output
        assert took >= hold - 1.5, "the upgrade cannot have run while the blocker held the table"
        assert "lock timeout: upgrade a1 -> a2" in guarded.err, guarded.err
        assert "trying again in" in guarded.err
        assert "lock timeout(s), retried)" in guarded.out
        assert f"pid {seen['pid']}" in guarded.err, guarded.err
        assert max(waits) < 1 + 1.5, f"a read waited {max(waits):.1f} s behind the ALTER"
        guarded_wait = max(waits)
        rows = _log(run)
        timeouts = [r for r in rows if r["state"] == "lock timeout"]
        assert timeouts
        assert all(r["revision"] == "a2" for r in timeouts)
        assert not any(r["success"] for r in timeouts)
        assert all("rolled back, nothing kept: will retry in" in str(r["error"]) for r in timeouts)
        assert (rows[0]["revision"], rows[0]["state"]) == ("a2", "succeeded")

        # The same with the guard off: the ALTER queues, and the reads queue behind it.
        assert run.subprocess("downgrade", "alpha", "a1").code == 0
        with blocker(db, hold), reader(db) as waits:
            unguarded = run("upgrade", "alpha", "--db-lock-timeout", "0")
        assert unguarded.code == 0, unguarded.output
        assert "lock timeout" not in unguarded.err
        assert max(waits) > 1 + 1.5, f"the longest read took only {max(waits):.1f} s"
        print(f"{backend}: longest read of orders, lock wait 1 s: {guarded_wait:.2f} s guarded,"
              f" {max(waits):.2f} s unguarded (blocker holds {hold:g} s)")  # fmt: skip


@case(
    "faults",
    "a revision's table stays locked past every retry of the deploy guard",
    exit_code="1",
    message="lock timeout: upgrade a1 -> a2 (...) could not lock orders within 1 s in 2"
    " attempt(s) (held by pid ...); nothing of it was kept, database is at a1; run again once"
    " the table is free, or raise db_lock_timeout or lock_retries ...",
    database="a1 (the last good revision); the next upgrade needs no repair, also on MariaDB",
    log="one lock-timeout row per attempt: 'will retry in ... s', then 'gave up'",
    backends="PostgreSQL, MariaDB",
)
@pytest.mark.parametrize("backend", SERVERS)
def test_retries_exhausted_fail_cleanly(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path, backend: str
) -> None:
    with servers.fresh(backend, tmp_path) as db:
        _declare(root, db.backend, "lock_retries = 1\nlock_retry_backoff = 0.2\n"
                 "db_lock_timeout = 1")  # fmt: skip
        run.env["ALPHA_DEV_DATABASE_URL"] = db.url_string
        assert run.subprocess("upgrade", "alpha", "a1").code == 0
        with blocker(db, 6.0) as seen:
            failed = run.subprocess("upgrade", "alpha")
        assert failed.code == 1, failed.output
        [line] = [line for line in failed.err.splitlines() if line.startswith("error:")]
        assert "lock timeout: upgrade a1 -> a2" in line
        assert "could not lock orders" in line
        assert "in 2 attempt(s)" in line
        assert "database is at a1" in line, line
        assert f"pid {seen['pid']}" in line, line
        # Newest first; MySQL/MariaDB also have an in-progress row before each attempt,
        # which the lock-timeout row after it closes ("started").
        rows = [r for r in _log(run) if r["state"] != "started"]
        assert [r["state"] for r in rows[:2]] == ["lock timeout", "lock timeout"]
        assert "(attempt 2 of 2), rolled back, nothing kept: gave up" in str(rows[0]["error"])
        assert "(attempt 1 of 2), rolled back, nothing kept: will retry" in str(rows[1]["error"])
        assert [(r["revision"], r["success"]) for r in rows[:2]] == [("a2", False)] * 2
        status = run.subprocess("status", "alpha", "--json")
        assert json.loads(status.out)["projects"][0]["current"] == ["a1"], status.output
        again = run.subprocess("upgrade", "alpha")  # no repair needed: nothing was kept
        assert again.code == 0, again.output


@case(
    "faults",
    "CREATE INDEX CONCURRENTLY waits for an older transaction under the deploy guard",
    exit_code="0",
    message="lock wait lifted for: CREATE INDEX CONCURRENTLY ...",
    database="a3 with a valid index, built once the older transaction ended (no lock timeout"
    " cut it short, no INVALID index left behind)",
    log="consistent: verify passes",
    backends="PostgreSQL",
)
@pytest.mark.postgresql
def test_create_index_concurrently_runs_without_the_lock_wait(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path
) -> None:
    with servers.fresh("postgresql", tmp_path) as db:
        _declare(root, db.backend, "lock_retries = 0\ndb_lock_timeout = 1")
        (root / "projects" / "alpha" / "versions" / "a3_index.py").write_text(CONCURRENT_INDEX)
        run.env["ALPHA_DEV_DATABASE_URL"] = db.url_string
        assert run.subprocess("upgrade", "alpha", "a2").code == 0
        # A writer: the index build waits for it (a reader's snapshot ends with its SELECT).
        with blocker(db, 3.0, "INSERT INTO orders (id, note) VALUES (1, 'x')"):
            started = time.monotonic()
            built = run.subprocess("upgrade", "alpha")
            took = time.monotonic() - started
        assert built.code == 0, built.output
        assert took > 2.0, "the index build waits for the older transaction, by design"
        assert "lock wait lifted for: CREATE INDEX CONCURRENTLY" in built.err
        valid = db.scalar_rows(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = 'ix_orders_note'"
        )
        assert valid == [(True,)]


HALF_THEN_ALTER = '''"""seed a row, then add orders.note"""

import sqlalchemy as sa
from alembic import op

revision = "a2"
down_revision = "a1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO orders (id) VALUES (7)")
    op.add_column("orders", sa.Column("note", sa.String(100)))


def downgrade() -> None:
    op.drop_column("orders", "note")
'''


@case(
    "faults",
    "MySQL/MariaDB: a lock timeout after the revision's first change (DDL commits itself)",
    exit_code="1, then 4",
    message="lock timeout: upgrade a1 -> a2 ... after part of it was committed (DDL commits"
    " itself, or autocommit_block), so it was not retried; database is at a1; ...",
    database="a1 plus the revision's first change (the ALTER's implicit commit kept the INSERT)",
    log="a failure row (not a lock-timeout one): writes wait for repair",
    backends="MariaDB",
)
@pytest.mark.mysql
def test_no_retry_once_part_of_a_revision_was_committed(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path
) -> None:
    with servers.fresh("mysql", tmp_path) as db:
        _declare(root, db.backend, "lock_retries = 3\nlock_retry_backoff = 0.2\n"
                 "db_lock_timeout = 1")  # fmt: skip
        (root / "projects" / "alpha" / "versions" / "a2_order_note.py").write_text(HALF_THEN_ALTER)
        run.env["ALPHA_DEV_DATABASE_URL"] = db.url_string
        assert run.subprocess("upgrade", "alpha", "a1").code == 0
        with blocker(db, 4.0):
            failed = run.subprocess("upgrade", "alpha")
        assert failed.code == 1, failed.output
        assert "trying again" not in failed.err
        assert "after part of it was committed" in failed.err
        assert "database is at a1" in failed.err
        assert db.scalar_rows("SELECT id FROM orders") == [(7,)]  # what the log must not hide
        [row] = [r for r in _log(run) if r["state"] != "started"][:1]
        assert row["state"] == "failed"
        assert "not retried" in str(row["error"])
        refused = run.subprocess("upgrade", "alpha")
        assert refused.code == 4, refused.output


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ("lock_retry = 3", "unknown key 'lock_retry'; did you mean 'lock_retries'?"),
        ("lock_retries = -1", "lock_retries must be a whole number (0 to 100)"),
        ("lock_retries = 2.5", "lock_retries must be a whole number (0 to 100)"),
        ("db_lock_timeout = -1", "db_lock_timeout must be a number of seconds"),
        ("lock_retry_backoff = true", "lock_retry_backoff must be a number of seconds"),
        ("large_table_rows = 'many'", "large_table_rows must be a whole number"),
    ],
)
def test_guard_settings_are_checked(run: Runner, root: Path, setting: str, error: str) -> None:
    _declare(root, "sqlite", f'sqlite = "var/dev.sqlite"\n{setting}')
    failed = run("status", "alpha")
    assert failed.code == 2, failed.output
    assert f"[env.dev]: {error}" in failed.err


def test_an_explicit_lock_wait_on_sqlite_is_refused_the_default_is_not(
    run: Runner, root: Path
) -> None:
    _declare(root, "sqlite", 'sqlite = "var/dev.sqlite"')
    assert run("upgrade", "alpha").code == 0  # the guard's default: nothing to set on SQLite
    refused = run("upgrade", "alpha", "--db-lock-timeout", "3")
    assert refused.code == 2, refused.output
    assert "db_lock_timeout is not supported on SQLite" in refused.err
