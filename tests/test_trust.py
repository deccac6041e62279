"""The change log tells the truth and tampering shows: what a DBA relies on when auditing.

Each test here was written against a defect found by using the runner as a CI
pipeline and as an attacker would; every one failed before its fix.
"""

from __future__ import annotations

import datetime as dt
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
from tests.databases import Database
from tests.reliability.catalogue import case

HEAD = "s3"
TABLE = changelog.table_name("slowpoke")


@pytest.fixture
def slow(run: Runner, root: Path, db: Database) -> Database:
    load_scenario("slow", root)
    run.env["SLOWPOKE_DATABASE_URL"] = db.url_string
    return db


def rows(db: Database) -> list[dict[str, Any]]:
    with db.connect() as connection:
        return [
            dict(r._mapping)
            for r in connection.exec_driver_sql(f"SELECT * FROM {TABLE} ORDER BY id")
        ]


def execute(db: Database, *statements: str) -> None:
    with db.connect() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
        connection.commit()


def log_entries(run: Runner) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(run.ok("log", "slowpoke", "--json").out)["projects"][
        0
    ]["entries"]
    return entries


def verify_kinds(run: Runner, *args: str) -> tuple[int, list[str]]:
    outcome = run("verify", "slowpoke", "--json", *args)
    document = json.loads(outcome.out)
    return outcome.code, [p["kind"] for p in document["projects"][0]["problems"]]


# --- 1. the record reads as what happened -------------------------------------------


def test_successful_steps_never_read_as_failures(run: Runner, slow: Database) -> None:
    """On MySQL every step is announced by an in-progress row; a success closes it."""
    run.ok("upgrade", "slowpoke")
    text = run.ok("log", "slowpoke").out
    assert "FAILED" not in text
    assert "INTERRUPTED" not in text
    states = {e["state"] for e in log_entries(run)}
    expected = {"succeeded", "recorded"} | ({"started"} if slow.backend == "mysql" else set())
    assert states == expected
    if slow.backend == "mysql":
        assert "started" in text


def _kill_during_s2(run: Runner) -> None:
    """Run an upgrade and SIGKILL it while s2 (the slow revision) runs."""
    env = {**os.environ, **run.env, "RUNNER_ROOT": str(run.root), "SLOWPOKE_SECONDS": "60"}
    with subprocess.Popen(
        [sys.executable, "-m", "runner", "upgrade", "slowpoke"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        assert proc.stderr is not None
        for line in proc.stderr:
            if IN_S2 in line:
                break
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@case(
    "log",
    "verify after a killed run",
    exit_code="4 on MySQL/MariaDB, else 0",
    message="the last run stopped during upgrade s2 ...; runner repair <project>",
    database="base; MySQL/MariaDB: s1",
    log="verify and upgrade report the same interrupted run",
)
def test_verify_agrees_with_the_refusal_after_an_interrupted_run(
    run: Runner, slow: Database
) -> None:
    _kill_during_s2(run)
    code, kinds = verify_kinds(run)
    refused = run("upgrade", "slowpoke", "--lock-timeout", "30")
    if slow.backend == "mysql":  # DDL committed itself: nobody knows how much of s2 ran
        assert (code, refused.code) == (4, 4), refused.output
        assert kinds == ["interrupted-run"]
        assert "stopped during upgrade s2" in refused.err
        assert log_entries(run)[0]["state"] == "interrupted"
        assert "INTERRUPTED" in run.ok("log", "slowpoke").out
    else:  # rolled back whole: nothing to refuse
        assert (code, kinds, refused.code) == (0, [], 0), refused.output


# --- 2. a failure row only under the lock -------------------------------------------------


def _terminate_runner_sessions(db: Database) -> int:
    """Kill the database sessions of the runner on ``db`` (as a DBA or a failover would)."""
    with db.connect() as connection:
        if db.backend == "postgresql":
            killed = connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'docker-alembic:slowpoke'"
                " AND datname = current_database()"  # other tests' databases are not ours
            ).all()
        else:
            ids = connection.exec_driver_sql(
                "SELECT id FROM information_schema.processlist"
                " WHERE db = %s AND id <> CONNECTION_ID()",
                (db.url.database,),
            ).all()
            for (session,) in ids:
                connection.exec_driver_sql(f"KILL {int(session)}")
            killed = ids
    return len(killed)


@pytest.mark.parametrize("db", ["postgresql", "mysql"], indirect=True)
@case(
    "faults",
    "the running upgrade's database session is killed while another run waits",
    exit_code="3",
    message=(
        "...; the connection was lost and the project's lock with it, so the failure is not in the "
        "change log; the database is at base"
    ),
    database="base; the other run then applies everything (MySQL: waits for repair)",
    log="consistent: no row written without the lock, no false tamper alarm",
)
def test_a_run_whose_connection_was_killed_writes_nothing_without_the_lock(
    run: Runner, slow: Database
) -> None:
    env = {**os.environ, **run.env, "RUNNER_ROOT": str(run.root), "SLOWPOKE_SECONDS": "3"}
    with subprocess.Popen(
        [sys.executable, "-m", "runner", "upgrade", "slowpoke"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as first:  # fmt: skip
        assert first.stderr is not None
        for line in first.stderr:
            if IN_S2 in line:
                break
        assert _terminate_runner_sessions(slow) >= 1
        # Its lock went with its session: another deploy goes ahead meanwhile.
        second = run("upgrade", "slowpoke", "--lock-timeout", "30")
        _, err = first.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert first.returncode == 3, err
    assert len(lines) == 1, err
    assert "connection was lost" in lines[0]
    assert "not in the change log" in lines[0]
    assert "Traceback" not in err
    if slow.backend == "postgresql":
        assert second.code == 0, second.output
        assert "database is at base" in lines[0]  # its transaction rolled back whole
    else:  # s1 committed, s2's in-progress row stays: the other run refuses, cleanly
        assert second.code == 4, second.output
        assert "stopped during upgrade s2" in second.err
        run.ok("repair", "slowpoke")
        run.ok("upgrade", "slowpoke")
    code, kinds = verify_kinds(run)
    assert (code, kinds) == (0, []), "no false tamper alarm: the killed run wrote nothing"
    assert not [r for r in rows(slow) if not r["success"] and r["error"] != changelog.IN_PROGRESS]


# --- 3. tampering shows ----------------------------------------------------------------------


@case(
    "log",
    "an old row changed after a repair acknowledged the log",
    exit_code="4",
    message="change-log rows before the repair of ... were changed after it",
    database="untouched",
    log="reported",
)
def test_a_row_changed_after_a_repair_is_seen(run: Runner, slow: Database) -> None:
    run.ok("upgrade", "slowpoke")
    execute(slow, f"UPDATE {TABLE} SET description = 'x' WHERE revision = 's1'")
    assert verify_kinds(run)[0] == 4
    run.ok("repair", "slowpoke")  # a human looked at it and accepted the log as it is
    assert verify_kinds(run) == (0, [])
    execute(slow, f"UPDATE {TABLE} SET os_user = 'someone-else' WHERE revision = 's2'")
    code, kinds = verify_kinds(run)
    assert code == 4
    assert "log-tampered" in kinds


@case(
    "log",
    "the newest change-log rows deleted (hiding an edit)",
    exit_code="4",
    message=(
        "verify failed: s3 applied after the change log began, but the log has no row for it ..."
    ),
    database="untouched: the edited downgrade() does not run",
    log="unlogged until repair",
)
def test_deleting_the_newest_rows_refuses_instead_of_warning(
    run: Runner, root: Path, slow: Database
) -> None:
    run.ok("upgrade", "slowpoke")
    s3 = root / "projects" / "slowpoke" / "versions" / "s3_third.py"
    s3.write_text(s3.read_text() + "\n# edited after it was applied\n")
    assert verify_kinds(run)[1] == ["edited"]
    execute(slow, f"DELETE FROM {TABLE} WHERE revision = 's3'")  # hide the edit
    code, kinds = verify_kinds(run)
    assert code == 4
    assert kinds == ["unlogged"]
    refused = run("downgrade", "slowpoke", "-1")  # the edited downgrade() must not run
    assert refused.code == 4, refused.output


@case(
    "log",
    "the change log emptied (DELETE or TRUNCATE)",
    exit_code="4",
    message="the change log ... is empty but the database is at s2: its rows were deleted ...",
    database="untouched until repair",
    log="repair starts it over",
)
def test_an_emptied_log_refuses_every_write(run: Runner, slow: Database) -> None:
    run.ok("upgrade", "slowpoke", "s2")
    execute(slow, f"DELETE FROM {TABLE}")
    code, kinds = verify_kinds(run)
    assert code == 4
    assert kinds == ["log-emptied"]
    for args in (["upgrade", "slowpoke"], ["stamp", "slowpoke", "s3"]):
        refused = run(*args)
        assert refused.code == 4, refused.output
        assert "empty" in refused.err
    run.ok("repair", "slowpoke")
    assert verify_kinds(run)[0] == 0


@case(
    "log",
    "a row forged with a recomputed hash, when the log is keyed",
    exit_code="4",
    message="change-log row N is not keyed although earlier rows are (forged)",
    database="untouched",
    log="reported",
)
def test_a_key_catches_a_forged_row(run: Runner, slow: Database, tmp_path: Path) -> None:
    key_file = tmp_path / "log.key"
    key_file.write_text("k3y-only-the-pipeline-has\n")
    run.env["SLOWPOKE_LOG_KEY_FILE"] = str(key_file)
    run.ok("upgrade", "slowpoke")
    entries = rows(slow)
    assert all(r["row_hash"].startswith("k") for r in entries)
    assert verify_kinds(run) == (0, [])

    # Whoever may UPDATE the table can recompute an unkeyed hash for a row they change.
    target = next(r for r in entries if r["revision"] == "s2" and r["success"])
    before = [r for r in entries if r["id"] < target["id"]][-1]
    stored = {k: v for k, v in target.items() if k != "row_hash"}
    if slow.backend == "sqlite":  # the driver returns SQLite's DATETIME as text
        for column in ("started_at", "finished_at"):
            stored[column] = dt.datetime.fromisoformat(stored[column])
    forged = changelog.LogEntry(
        **{**stored, "os_user": "nobody", "success": bool(target["success"])}
    )
    execute(slow, f"UPDATE {TABLE} SET os_user = 'nobody',"
                  f" row_hash = '{forged.chained_hash(before['row_hash'])}'"
                  f" WHERE id = {target['id']}")  # fmt: skip
    code, kinds = verify_kinds(run)
    assert code == 4
    assert "log-forged" in kinds


@case(
    "log",
    "writing to a keyed log without the key",
    exit_code="2",
    message="the change log ... is keyed (HMAC): set SLOWPOKE_LOG_KEY ...",
    database="untouched",
    log="untouched",
)
def test_a_keyed_log_takes_no_unkeyed_rows(run: Runner, slow: Database) -> None:
    run.env["SLOWPOKE_LOG_KEY"] = "k3y-only-the-pipeline-has"
    run.ok("upgrade", "slowpoke", "s2")
    del run.env["SLOWPOKE_LOG_KEY"]
    code, kinds = verify_kinds(run)
    assert (code, kinds) == (0, [])  # readable, though not checkable, without the key
    refused = run("upgrade", "slowpoke")
    assert refused.code == 2, refused.output
    assert "SLOWPOKE_LOG_KEY" in refused.err
    assert "k3y-only" not in refused.output
    assert [r["revision"] for r in rows(slow)][-1] == "s2"


@case(
    "log",
    "the change-log table dropped, with an anchor kept outside",
    exit_code="4",
    message="change-log row N, kept outside the database as ..., is gone ...",
    database="untouched",
    log="reported against the anchor",
)
def test_an_anchor_kept_outside_catches_a_dropped_log(run: Runner, slow: Database) -> None:
    run.ok("upgrade", "slowpoke")
    anchor = run.ok("log", "slowpoke", "--head").out.strip()
    row_id, _, row_hash = anchor.partition(":")
    assert row_id.isdigit()
    assert len(row_hash) == 64
    assert verify_kinds(run, "--anchor", anchor) == (0, [])
    execute(slow, f"DROP TABLE {TABLE}")
    code, kinds = verify_kinds(run, "--anchor", anchor)
    assert code == 4
    assert "anchor-mismatch" in kinds


# --- 4. failure rows say what failed ---------------------------------------------------------


def test_a_failure_row_names_the_revision_file_and_times_the_step(
    run: Runner, root: Path, slow: Database
) -> None:
    run.env["SLOWPOKE_SECONDS"] = "1.5"  # s2 takes 1.5 s; the failing s4 takes none
    broken = root / "projects" / "slowpoke" / "versions" / "s4_fails.py"
    broken.write_text(failing_revision("s4", "s3"))
    assert run("upgrade", "slowpoke").code == 1
    failure = next(
        r for r in rows(slow) if not r["success"] and r["error"] != changelog.IN_PROGRESS
    )
    assert failure["revision"] == "s4"
    assert failure["path"] == "versions/s4_fails.py"
    assert len(failure["checksum"]) == 64
    assert failure["duration_ms"] < 1000, "timed from the failing step, not the run"


def test_an_untracked_revision_makes_the_commit_dirty(
    run: Runner, root: Path, slow: Database
) -> None:
    git = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "HOME": str(root)}  # fmt: skip
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *argv], cwd=root, env={**os.environ, **git}, check=True)
    extra = root / "projects" / "slowpoke" / "versions" / "s4_new.py"
    extra.write_text(failing_revision("s4", "s3").replace(
        'op.execute("INSERT INTO no_such_table VALUES (1)")', "pass"))  # fmt: skip
    run.ok("upgrade", "slowpoke")
    commits = {r["git_commit"] for r in rows(slow) if r["revision"] == "s4"}
    assert len(commits) == 1
    assert commits.pop().endswith("-dirty")


def test_no_runner_state_in_an_untouched_database(run: Runner, slow: Database) -> None:
    """Reading (status, log, verify, plan) never creates the change log."""
    for args in (["status", "slowpoke"], ["log", "slowpoke"], ["verify", "slowpoke"],
                 ["plan", "slowpoke"]):  # fmt: skip
        run.ok(*args)
    engine = sa.create_engine(slow.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            assert not sa.inspect(connection).has_table(TABLE)
    finally:
        engine.dispose()


# --- 5-9. the plan is what runs ---------------------------------------------------------------

STOCK_REVISION = '''"""stock revision"""
import sqlalchemy as sa
from alembic import op

revision = "st1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("stock_t", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("nick", sa.String(20)))
    with op.batch_alter_table("stock_t") as batch:
        batch.drop_column("nick")


def downgrade() -> None:
    op.drop_table("stock_t")
'''


def _stock_project(root: Path, name: str = "legacy") -> Path:
    """A project made by plain ``alembic init`` (its env.py builds its own engine)."""
    from alembic import command
    from alembic.config import Config

    ini = root / "projects" / name / "alembic.ini"
    ini.parent.mkdir(parents=True)
    command.init(Config(str(ini)), str(ini.parent / "migrations"))
    (ini.parent / "migrations" / "versions" / "st1_stock.py").write_text(STOCK_REVISION)
    return ini


def test_plan_of_a_stock_env_py_on_sqlite_shows_what_runs(run: Runner, root: Path) -> None:
    _stock_project(root)
    plan = run.ok("plan", "legacy")
    assert "CREATE TABLE stock_t" in plan.out
    assert "_alembic_tmp_stock_t" in plan.out  # the batch copy, as it will execute
    linted = run("lint", "legacy", "--dialect", "sqlite", "--json")
    assert linted.code == 1, linted.output  # the batch copy drops a column: an error
    findings = json.loads(linted.out)
    rules = {f["rule"] for f in findings["projects"][0]["findings"]}
    assert "drop-column" in rules, rules
    assert not (root / "var" / "legacy.sqlite").exists(), "planning never creates the database"


def test_plan_refuses_an_env_py_that_connects_elsewhere(
    run: Runner, root: Path, tmp_path: Path
) -> None:
    ini = _stock_project(root)
    real = tmp_path / "real.sqlite"
    env_py = ini.parent / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace(
        'config.get_section(config.config_ini_section, {})',
        f'{{"sqlalchemy.url": "sqlite:///{real}"}}'))  # fmt: skip
    outcome = run("plan", "legacy")
    assert outcome.code == 2, outcome.output
    assert "connected to" in outcome.err
    assert not real.exists() or "stock_t" not in real.read_bytes().decode(errors="ignore")


def test_plan_of_a_legacy_sqlite_database_plans_on_a_copy(
    run: Runner, root: Path, tmp_path: Path
) -> None:
    """Tables but no version row yet: a database brought under control."""
    import sqlite3

    legacy = tmp_path / "legacy.sqlite"
    with sqlite3.connect(legacy) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    load_scenario("batch", root)  # c1 creates people... so use a revision that alters it
    versions = root / "projects" / "batchy" / "versions"
    for path in versions.glob("*.py"):
        path.unlink()
    (versions / "p1_age.py").write_text('''"""add age"""
import sqlalchemy as sa
from alembic import op

revision = "p1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("age", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("age")
''')
    run.env["BATCHY_DATABASE_URL"] = f"sqlite:///{legacy}"
    plan = run("plan", "batchy")
    assert plan.code == 0, plan.output
    assert "age INTEGER" in plan.out
    run.ok("upgrade", "batchy")  # and the plan agreed with what really happens


@pytest.mark.parametrize("db", ["postgresql", "mysql"], indirect=True)
def test_a_revision_that_cannot_render_offline_is_named_not_failed(
    run: Runner, root: Path, slow: Database
) -> None:
    (root / "projects" / "slowpoke" / "versions" / "s4_data.py").write_text('''"""backfill"""
import sqlalchemy as sa
from alembic import op

revision = "s4"
down_revision = "s3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rows = op.get_bind().execute(sa.text("SELECT id FROM second")).fetchall()
    for (row_id,) in rows:
        op.execute(f"INSERT INTO third (id) VALUES ({row_id})")


def downgrade() -> None:
    op.execute("DELETE FROM third")
''')
    run.ok("upgrade", "slowpoke", "s3")
    plan = run("plan", "slowpoke", "--out", str(root / "plan.json"))
    assert plan.code == 0, plan.output
    assert "s4" in plan.out
    assert "cannot be rendered offline" in plan.out
    assert "failed in upgrade" not in plan.output
    document = json.loads(run.ok("plan", "slowpoke", "--json").out)["projects"][0]
    assert list(document["unrendered"]) == ["s4"]
    run.ok("apply", str(root / "plan.json"))  # what was reviewed still deploys
    assert slow.scalar_rows("SELECT id FROM third") == [(1,)]


def test_a_stock_env_py_says_the_run_is_not_all_or_nothing(run: Runner, root: Path) -> None:
    _stock_project(root)
    upgraded = run.ok("upgrade", "legacy")
    assert "warning: legacy: env.py opens its own connection" in upgraded.err
    assert "not all-or-nothing" in upgraded.err


AUTOCOMMIT = '''"""index concurrently"""
from alembic import op

revision = "s4"
down_revision = "s3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY ix_third_id ON third (id)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_third_id")
'''


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_the_autocommit_notice_is_said_once_and_only_when_true(
    run: Runner, root: Path, slow: Database
) -> None:
    (root / "projects" / "slowpoke" / "versions" / "s4_index.py").write_text(AUTOCOMMIT)
    upgraded = run.ok("upgrade", "slowpoke")
    assert upgraded.err.count("autocommit_block") == 1, upgraded.err
    downgraded = run.ok("downgrade", "slowpoke", "-1")  # s4's downgrade() needs no autocommit
    assert "autocommit_block" not in downgraded.err


# --- 10-12. no secret leaks -------------------------------------------------------------------

DISTINCT = "Qu3ry-Param-Pw"


@pytest.mark.mysql
@case(
    "secrets",
    "a password given as ?password= in the URL",
    exit_code="0 (3 when wrong)",
    message="URLs shown as ...?password=***",
    database="head",
    log="no password in any row, output or plan file",
)
def test_a_password_in_the_query_string_is_never_shown(
    run: Runner, root: Path, servers: Any, tmp_path: Path
) -> None:
    import uuid

    with servers.fresh("mysql", tmp_path) as db:
        user = f"dal_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(db.url, poolclass=sa.pool.NullPool)
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (DISTINCT,))
            connection.exec_driver_sql(f"GRANT ALL ON {db.url.database}.* TO '{user}'@'%%'")
        try:
            url = db.url.set(username=user, password=None).render_as_string(hide_password=False)
            url = url.replace(f"{user}:***@", f"{user}@").split("@")
            url = "@".join(url) + f"?password={DISTINCT}"
            load_scenario("two_projects", root)
            run.env["ALPHA_DATABASE_URL"] = url
            outputs = [
                run.ok("upgrade", "alpha"), run.ok("status", "alpha", "--json"),
                run.ok("list"), run.ok("log", "alpha", "--json"),
                run.ok("plan", "alpha", "--out", str(tmp_path / "p.json")),
                run("upgrade", "alpha", "nosuchrev"),
            ]  # fmt: skip
            assert "orders" in db.tables(), "the query-string password reached the server"
            run.env["ALPHA_DATABASE_URL"] = url.replace(DISTINCT, DISTINCT + "-wrong")
            outputs.append(run("status", "alpha"))
            assert outputs[-1].code == 3
            texts = [o.output for o in outputs] + [(tmp_path / "p.json").read_text()]
            with db.connect() as connection:
                texts.append(
                    repr(connection.exec_driver_sql("SELECT * FROM alembic_changelog_alpha").all())
                )
            for text in texts:
                assert DISTINCT not in text
                assert "***" in texts[1]
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f"DROP USER '{user}'@'%%'")
            admin.dispose()


@pytest.mark.parametrize(
    "args",
    [
        ["status", "postgresql://dba:Typed-By-M1stake@db.example/prod"],
        ["upgrade", "alpha", "postgresql://dba:Typed-By-M1stake@db.example/prod"],
        ["--root", "postgresql://dba:Typed-By-M1stake@db.example/prod", "list"],
        ["history", "mysql://dba:Typed-By-M1stake@db.example/prod", "--json"],
    ],
)
def test_a_url_typed_in_the_wrong_place_is_echoed_without_its_password(
    run: Runner, root: Path, args: list[str]
) -> None:
    load_scenario("two_projects", root)
    outcome = run(*args)
    assert outcome.code == 2, outcome.output
    assert "Typed-By-M1stake" not in outcome.output
    assert "dba:***@db.example" in outcome.err or "Typed" not in outcome.err


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@case(
    "secrets",
    "a password that is a common word ('postgres')",
    exit_code="0",
    message="postgresql+psycopg://postgres:***@... (the word stays readable elsewhere)",
    database="head",
    log="-",
)
def test_a_common_word_password_is_hidden_as_a_credential_only(
    run: Runner, root: Path, db: Database
) -> None:
    """Trust auth accepts any password: 'postgres' reaches the server and must not be
    masked inside postgresql+psycopg, postgres (the user) or JSON keys."""
    load_scenario("two_projects", root)
    url = db.url.set(username="postgres", password="postgres").render_as_string(hide_password=False)
    run.env["ALPHA_DATABASE_URL"] = url
    run.ok("upgrade", "alpha")
    document = json.loads(run.ok("status", "alpha", "--json").out)["projects"][0]
    assert document["url"].startswith("postgresql+psycopg://postgres:***@")
    assert "***ql" not in run.ok("list").out
    assert ":postgres@" not in run.ok("status", "alpha").out
