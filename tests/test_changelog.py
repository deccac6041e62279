"""Change log, locking, verify and repair, on every backend, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from runner.run import changelog
from tests.conftest import IN_S2, Runner, failing_revision, load_scenario
from tests.databases import Database, ServerPool
from tests.reliability.catalogue import case

HEAD = "s3"


@pytest.fixture
def slow(run: Runner, root: Path, db: Database) -> Database:
    """The 'slow' scenario pointed at a fresh database."""
    load_scenario("slow", root)
    run.env["SLOWPOKE_DATABASE_URL"] = db.url_string
    return db


def log_rows(db: Database) -> list[dict[str, Any]]:
    """The steps in the change log, oldest first (not its first, log-created row, nor the
    schema fingerprint each write ends with: tests/test_adopt.py checks those)."""
    table = changelog.table_name("slowpoke")
    with db.connect() as connection:
        result = connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id")
        rows = [dict(row._mapping) for row in result]
    assert rows[0]["direction"] == "log-created", "a log starts with where the database was"
    return [row for row in rows[1:] if row["direction"] != "fingerprint"]


def current(db: Database) -> list[str]:
    return [str(r[0]) for r in db.scalar_rows("SELECT version_num FROM alembic_version_slowpoke")]


def test_every_step_is_logged_with_provenance(run: Runner, slow: Database) -> None:
    run.env.update({"CI_JOB_URL": "https://ci.example/job/7", "CI_COMMIT_SHA": "abc123",
                    "GITLAB_CI": "true", "GITLAB_USER_LOGIN": "dba-jane",
                    "CI_PIPELINE_ID": "42"})  # fmt: skip
    run.ok("upgrade", "slowpoke")
    run.ok("downgrade", "slowpoke", "-1")
    all_rows = log_rows(slow)
    rows = [r for r in all_rows if r["success"]]
    assert [(r["revision"], r["direction"]) for r in rows] == [
        ("s1", "upgrade"), ("s2", "upgrade"), ("s3", "upgrade"), ("s3", "downgrade"),
    ]  # fmt: skip
    if slow.backend == "mysql":
        # DDL commits itself there: each step is announced by an "in progress" row first.
        markers = [r for r in all_rows if not r["success"]]
        assert [r["revision"] for r in markers] == ["s1", "s2", "s3", "s3"]
        assert all("not finished" in r["error"] for r in markers)
        assert [bool(r["success"]) for r in all_rows] == [False, True] * 4
    else:
        assert rows == all_rows
    for row in rows:
        assert bool(row["success"]) is True
        assert len(row["checksum"]) == 64
        assert row["git_commit"] == "abc123"
        assert row["ci_job_url"] == "https://ci.example/job/7"
        assert row["ci_identity"] == "gitlab:dba-jane pipeline 42"
        assert row["os_user"]
        assert row["finished_at"] >= row["started_at"]
        assert row["path"].startswith("versions/")
    assert rows[1]["down_revisions"] == "s1"

    document = json.loads(run.ok("log", "slowpoke", "--json").out)
    entries = document["projects"][0]["entries"]
    done = [e for e in entries if e["success"] and e["direction"] != "fingerprint"]
    assert [e["direction"] for e in done][:2] == ["downgrade", "upgrade"]  # newest first
    assert entries[0]["finished_at"].endswith("Z")
    only_s2 = json.loads(run.ok("log", "slowpoke", "--revision", "s2", "--json").out)
    assert {e["revision"] for e in only_s2["projects"][0]["entries"]} == {"s2"}
    assert "s3" in run.ok("log", "slowpoke").out


@case(
    "concurrency",
    "8 runs of one project started at once",
    exit_code="0 for all 8",
    message="7 say nothing to do",
    database="head; each revision applied once",
    log="one success row per revision",
)
def test_concurrent_upgrades_apply_each_revision_once(run: Runner, slow: Database) -> None:
    env = {**os.environ, **run.env, "RUNNER_ROOT": str(run.root), "SLOWPOKE_SECONDS": "0.5"}
    procs = [
        subprocess.Popen([sys.executable, "-m", "runner", "upgrade", "slowpoke"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]  # fmt: skip
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        outcomes.append((proc.returncode, out, err))
    for code, out, err in outcomes:
        assert code == 0, out + err
    assert current(slow) == [HEAD]
    successes = [(r["revision"], r["direction"]) for r in log_rows(slow) if r["success"]]
    assert sorted(successes) == [("s1", "upgrade"), ("s2", "upgrade"), ("s3", "upgrade")]
    assert sum("nothing to do" in out for _, out, _ in outcomes) == 7
    assert slow.scalar_rows("SELECT id FROM second") == [(1,)]


@case(
    "faults",
    "kill -9 in the middle of a revision",
    exit_code="-9 (killed)",
    message="-",
    database="base (rolled back); MySQL/MariaDB: s1",
    log="consistent; MySQL/MariaDB: writes wait for repair",
)
def test_kill_minus_nine_releases_the_lock(run: Runner, slow: Database) -> None:
    env = {**os.environ, **run.env, "RUNNER_ROOT": str(run.root), "SLOWPOKE_SECONDS": "60"}
    with subprocess.Popen(
        [sys.executable, "-m", "runner", "upgrade", "slowpoke"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        for line in proc.stderr:  # wait until the slow revision is running (lock held)
            if IN_S2 in line or time.monotonic() > deadline:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # A killed run leaves the database at a known revision: s1 (MySQL) or base.
    shown = run("status", "slowpoke", "--json")
    status = json.loads(shown.out)["projects"][0]
    assert status["current"] in ([], ["s1"])
    # MySQL/MariaDB: status says what makes a write refuse (exit 4), like verify does.
    assert shown.code == (4 if slow.backend == "mysql" else 0), shown.output
    if slow.backend == "mysql":
        # Its DDL is not transactional: the runner cannot know how much of s2 ran,
        # so it names the revision and waits for a human to check and repair.
        refused = run("upgrade", "slowpoke", "--lock-timeout", "30")
        assert refused.code == 4, refused.output
        assert "stopped during upgrade s2" in refused.err
        run.ok("repair", "slowpoke")
    rerun = run("upgrade", "slowpoke", "--lock-timeout", "30")
    assert rerun.code == 0, rerun.output
    assert current(slow) == [HEAD]


@pytest.mark.parametrize("edited", ["py", "sql"])
@case(
    "log",
    "an applied revision (.py or .sql) edited afterwards",
    exit_code="4",
    message=(
        "<project>: verify failed: s2 changed since it was applied ...; after review: runner "
        "repair <project>"
    ),
    database="untouched until repair",
    log="a repair row once a human accepted it",
)
def test_edited_revision_blocks_upgrade_until_repair(
    run: Runner, root: Path, db: Database, edited: str
) -> None:
    load_scenario("slow", root)
    run.env["SLOWPOKE_DATABASE_URL"] = db.url_string
    versions = root / "projects" / "slowpoke" / "versions"
    if edited == "sql":  # a SQL revision: editing its .sql file is editing the revision
        created = run.ok("revision", "slowpoke", "-m", "sql step", "--sql")
        [up] = versions.glob("*.upgrade.sql")
        up.write_text("CREATE TABLE fourth (id INTEGER PRIMARY KEY);\n")
        next(versions.glob("*.downgrade.sql")).write_text("DROP TABLE fourth;\n")
        assert created.out
    run.ok("upgrade", "slowpoke", "s2" if edited == "py" else "heads")
    assert json.loads(run.ok("verify", "slowpoke", "--json").out)["projects"][0]["ok"] is True
    if edited == "py":
        target = versions / "s2_slow.py"
        target.write_text(target.read_text() + "\n# edited after it was applied\n")
    else:
        up.write_text("CREATE TABLE fourth (id INTEGER PRIMARY KEY, x INTEGER);\n")

    checked = run("verify", "slowpoke", "--json")
    assert checked.code == 4
    problems = json.loads(checked.out)["projects"][0]["problems"]
    assert [p["kind"] for p in problems] == ["edited"] * len(problems)
    assert len(problems) == 1
    refused = run("upgrade", "slowpoke")
    assert refused.code == 4
    assert "verify failed" in refused.err
    # The edited code must not run the other way either.
    refused = run("downgrade", "slowpoke", "-1")
    assert refused.code == 4
    assert "verify failed" in refused.err

    run.ok("repair", "slowpoke")
    assert run("verify", "slowpoke").code == 0
    assert run("upgrade", "slowpoke").code == 0
    directions = [r["direction"] for r in _rows(db, "slowpoke")]
    assert "repair" in directions


def _rows(db: Database, project: str) -> list[dict[str, Any]]:
    with db.connect() as connection:
        result = connection.exec_driver_sql(
            f"SELECT * FROM {changelog.table_name(project)} ORDER BY id"
        )
        return [dict(r._mapping) for r in result]


@case(
    "log",
    "a change-log row edited by hand",
    exit_code="4",
    message="change-log row N does not match the hash chain (edited or deleted rows)",
    database="untouched",
    log="reported until repair acknowledges it",
)
def test_tampered_log_is_detected(run: Runner, slow: Database) -> None:
    run.ok("upgrade", "slowpoke")
    with slow.connect() as connection:
        connection.exec_driver_sql(
            f"UPDATE {changelog.table_name('slowpoke')} SET description = 'nothing to see'"
            " WHERE revision = 's2'"
        )
        connection.commit()
    checked = run("verify", "slowpoke", "--json")
    assert checked.code == 4
    kinds = [p["kind"] for p in json.loads(checked.out)["projects"][0]["problems"]]
    assert set(kinds) == {"log-tampered"}  # MySQL also has s2's in-progress row


FAILING = failing_revision("s4", "s3")


@case(
    "history",
    "a revision that fails halfway",
    exit_code="1",
    message="<project>: failed in upgrade s3 -> s4 ...; database is at s3",
    database="s3 (rolled back); MySQL/MariaDB: s3 plus the DDL that committed",
    log="a failure row; MySQL/MariaDB: writes wait for repair",
)
def test_failure_is_logged_and_mysql_waits_for_repair(
    run: Runner, root: Path, slow: Database
) -> None:
    run.ok("upgrade", "slowpoke")
    broken = root / "projects" / "slowpoke" / "versions" / "s4_fails.py"
    broken.write_text(FAILING)
    failed = run("upgrade", "slowpoke")
    assert failed.code == 1
    last = log_rows(slow)[-1]
    assert (last["revision"], bool(last["success"])) == ("s4", False)
    assert "no_such_table" in last["error"]
    assert current(slow) == [HEAD]

    again = run("upgrade", "slowpoke")
    if slow.backend == "mysql":
        # DDL committed itself: half_done exists, so the runner refuses until a human looks.
        assert "half_done" in slow.tables()
        assert again.code == 4
        assert "s4" in again.err
        assert "runner repair slowpoke" in again.err
        with slow.connect() as connection:  # the DBA cleans up by hand...
            connection.exec_driver_sql("DROP TABLE half_done")
        broken.write_text(FAILING.replace('op.execute("INSERT INTO no_such_table VALUES (1)")', ""))
        run.ok("repair", "slowpoke")  # ...and records the decision
        run.ok("upgrade", "slowpoke")
        assert current(slow) == ["s4"]
    else:
        # Rolled back whole: nothing half-done, and nothing to repair.
        assert "half_done" not in slow.tables()
        assert again.code == 1


@case(
    "concurrency",
    "the lock held past --lock-timeout",
    exit_code="5",
    message=(
        "could not take the migration lock within 1s; held by pid ... (raise --lock-timeout or "
        "wait)"
    ),
    database="untouched",
    log="untouched",
)
def test_lock_timeout_names_the_holder(run: Runner, slow: Database) -> None:
    from runner.db import locking

    engine = sa.create_engine(slow.url, poolclass=sa.pool.NullPool)
    with engine.connect() as holder:
        if slow.backend == "postgresql":
            holder.exec_driver_sql(f"SELECT pg_advisory_lock({locking.advisory_key('slowpoke')})")
        elif slow.backend == "mysql":
            name = locking.lock_name("slowpoke", slow.url.database)
            holder.exec_driver_sql(f"SELECT GET_LOCK('{name}', 5)")
        else:
            holder.exec_driver_sql("BEGIN IMMEDIATE")
        if slow.backend != "sqlite":
            holder.commit()  # the lock is the session's, not the transaction's
        outcome = run("upgrade", "slowpoke", "--lock-timeout", "1")
    engine.dispose()
    assert outcome.code == 5, outcome.output
    assert "lock" in outcome.err
    named = {"postgresql": "pid", "mysql": "connection", "sqlite": "another process"}
    assert named[slow.backend] in outcome.err
    assert "alembic_version_slowpoke" not in slow.tables()  # nothing ran


def test_sqlite_lock_timeout_names_the_runner_holding_it(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path
) -> None:
    """On SQLite the waiting run names the holding run (pid, user, host) from the lock file."""
    load_scenario("slow", root)
    with servers.fresh("sqlite", tmp_path) as database:
        run.env["SLOWPOKE_DATABASE_URL"] = database.url_string
        env = {**os.environ, **run.env, "RUNNER_ROOT": str(run.root), "SLOWPOKE_SECONDS": "60"}
        with subprocess.Popen(
            [sys.executable, "-m", "runner", "upgrade", "slowpoke"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        ) as holder:  # fmt: skip
            try:
                assert holder.stderr is not None
                for line in holder.stderr:  # the slow revision is running: the lock is held
                    if IN_S2 in line:
                        break
                waiting = run("upgrade", "slowpoke", "--lock-timeout", "1")
            finally:
                holder.kill()
        assert waiting.code == 5, waiting.output
        assert f"held by pid {holder.pid} (user " in waiting.err
        # Killed, the holder left the lock free: the next run completes.
        assert run("upgrade", "slowpoke", "--lock-timeout", "30").code == 0
        assert current(database) == [HEAD]
