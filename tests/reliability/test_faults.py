"""Faults: runs racing each other, killed, interrupted, cut off from their database.

Every case checks, besides its own claims, what :func:`checks.settle` checks: the
database is at a revision ``status`` agrees with, the change log is consistent,
and no password was printed.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import IN_S2, Runner, load_scenario
from tests.databases import Database, ServerPool
from tests.reliability.catalogue import case
from tests.reliability.checks import PASSWORD, one_line, settle
from tests.reliability.conftest import PrivateServer, Process

HEAD = ["s3"]


def _until_up(db: Database) -> list[str]:
    """Where a run cut off in the middle of s2 leaves the database: base where DDL rolls
    back, s1 on MySQL/MariaDB (one committed revision at a time)."""
    return [] if db.backend != "mysql" else ["s1"]


# --- concurrency -------------------------------------------------------------------------------


def _tiny_project(root: Path, name: str) -> None:
    folder = root / "projects" / name / "versions"
    folder.mkdir(parents=True)
    (folder / f"{name}_1.py").write_text(f'''"""table of {name}"""
import sqlalchemy as sa
from alembic import op

revision = "{name}_1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("{name}_t", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("{name}_t")
''')


@case("concurrency", "8 projects sharing one database, deployed at the same time",
      exit_code="0 for each", message="-", database="every project at its head",
      log="one log per project, each consistent")  # fmt: skip
def test_eight_projects_share_one_database_at_once(run: Runner, root: Path, db: Database) -> None:
    from runner.project import repository

    names = [f"p{i}" for i in range(8)]
    for name in names:
        _tiny_project(root, name)
        repository.write_template(root / "projects" / name, name)
        run.env[f"{name.upper()}_DATABASE_URL"] = db.url_string
    procs = [Process(run, "upgrade", name, "--lock-timeout", "60") for name in names]
    for proc in procs:
        done = proc.finish()
        assert done.returncode == 0, done.stderr
    assert {f"{n}_t" for n in names} <= db.tables()
    for name in names:
        settle(run, name, [f"{name}_1"])


@case("concurrency", "an upgrade and a downgrade of one project racing",
      exit_code="0 for both", message="the later one waits for the lock, naming the holder",
      database="where the later one left it (s2)", log="consistent: verify passes")  # fmt: skip
def test_upgrade_racing_downgrade(run: Runner, slow: Database, tmp_path: Path) -> None:
    upgrading = Process(run, "upgrade", "slowpoke", seconds=60, gate=tmp_path / "gate")
    upgrading.wait_for(IN_S2)
    downgrading = Process(run, "downgrade", "slowpoke", "-1", "--lock-timeout", "60")
    downgrading.wait_for("waiting up to")
    upgrading.open_gate()
    assert upgrading.finish().returncode == 0
    done = downgrading.finish()
    assert done.returncode == 0, done.stderr
    settle(run, "slowpoke", ["s2"])


# --- faults ------------------------------------------------------------------------------------


@case("faults", "SIGINT (Ctrl-C) in the middle of a revision", exit_code="130",
      message="interrupted", database="base (rolled back); MySQL/MariaDB: s1",
      log="consistent; MySQL/MariaDB: s2's run is 'interrupted', writes wait for repair",
      )  # fmt: skip
def test_sigint_in_the_middle_of_a_revision(run: Runner, slow: Database) -> None:
    proc = Process(run, "upgrade", "slowpoke", seconds=30)
    proc.wait_for(IN_S2)
    time.sleep(0.3)
    proc.signal(signal.SIGINT)
    done = proc.finish()
    assert one_line(done, 130) == "interrupted"
    settled = settle(run, "slowpoke", _until_up(slow), log_ok=slow.backend != "mysql")
    if slow.backend == "mysql":
        assert settled.problems == ["interrupted-run"]
        run.ok("repair", "slowpoke")
    run.ok("upgrade", "slowpoke")
    settle(run, "slowpoke", HEAD)


@case("faults", "SIGTERM (a cancelled CI job) in the middle of a revision", exit_code="143",
      message="terminated (SIGTERM): stopped and cleaned up",
      database="base (rolled back); MySQL/MariaDB: s1", log="as for SIGINT")  # fmt: skip
def test_sigterm_in_the_middle_of_a_revision(run: Runner, slow: Database) -> None:
    proc = Process(run, "upgrade", "slowpoke", seconds=30)
    proc.wait_for(IN_S2)
    time.sleep(0.3)
    proc.signal(signal.SIGTERM)
    done = proc.finish()
    assert one_line(done, 143).startswith("terminated (SIGTERM)")
    settled = settle(run, "slowpoke", _until_up(slow), log_ok=slow.backend != "mysql")
    if slow.backend == "mysql":
        assert settled.problems == ["interrupted-run"]
        run.ok("repair", "slowpoke")
    # The lock went with the process: the next run goes ahead at once.
    run.ok("upgrade", "slowpoke", "--lock-timeout", "1")


def _databases(admin: sa.engine.URL) -> set[str]:
    engine = sa.create_engine(admin, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            if admin.get_backend_name() == "postgresql":
                rows = connection.exec_driver_sql("SELECT datname FROM pg_database").all()
            else:
                rows = connection.exec_driver_sql(
                    "SELECT schema_name FROM information_schema.schemata"
                ).all()
    finally:
        engine.dispose()
    return {r[0] for r in rows}


@pytest.mark.parametrize("kind", [pytest.param("postgresql", marks=pytest.mark.postgresql),
                                  pytest.param("mysql", marks=pytest.mark.mysql)])  # fmt: skip
@case("faults", "SIGTERM during a round trip (runner test)", exit_code="143",
      message="terminated (SIGTERM): stopped and cleaned up",
      database="the throw-away database is dropped", log="-",
      backends="PostgreSQL, MariaDB")  # fmt: skip
def test_sigterm_during_a_round_trip_drops_its_database(
    run: Runner, root: Path, servers: ServerPool, kind: str
) -> None:
    admin = servers.admin_url(kind)
    load_scenario("slow", root)
    before = {d for d in _databases(admin) if d.startswith("dalembic_rt_")}
    proc = Process(run, "test", "slowpoke", "--db", kind, "--server-url",
                   admin.render_as_string(hide_password=False), seconds=30)  # fmt: skip
    deadline = time.monotonic() + 30
    ours: set[str] = set()
    while not ours:  # other tests make throw-away databases too: ours has slowpoke's table
        assert time.monotonic() < deadline
        time.sleep(0.1)
        ours = _with_table(admin, _databases(admin) - before, "alembic_version_slowpoke")
    time.sleep(1)  # inside the slow revision now
    proc.signal(signal.SIGTERM)
    done = proc.finish()
    one_line(done, 143)
    assert not ours & _databases(admin)


def _with_table(admin: sa.engine.URL, names: set[str], table: str) -> set[str]:
    """Which of the databases ``names`` (dalembic_rt_*) are slowpoke's round trip: on
    PostgreSQL the one its session is in (its tables are not committed yet), on MySQL
    the one holding ``table`` (DDL commits itself there)."""
    names = {n for n in names if n.startswith("dalembic_rt_")}
    if not names:
        return set()
    engine = sa.create_engine(admin, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            if admin.get_backend_name() == "postgresql":
                rows = connection.exec_driver_sql(
                    "SELECT datname FROM pg_stat_activity WHERE application_name ="
                    " 'docker-alembic:slowpoke'"
                ).all()
            else:
                rows = connection.exec_driver_sql(
                    "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
                    (table,),
                ).all()
    finally:
        engine.dispose()
    return {r[0] for r in rows} & names


def _sessions(db: Database, project: str = "slowpoke") -> list[int]:
    with db.connect() as connection:
        if db.backend == "postgresql":
            rows = connection.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
                " AND datname = current_database() ORDER BY backend_start",
                (f"docker-alembic:{project}",),
            ).all()
        else:
            rows = connection.exec_driver_sql(
                "SELECT id FROM information_schema.processlist WHERE db = %s"
                " AND id <> CONNECTION_ID() ORDER BY time DESC",
                (db.url.database,),
            ).all()
    return [int(r[0]) for r in rows]


def _kill(db: Database, session: int) -> None:
    with db.connect() as connection:
        if db.backend == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({session})")
        else:
            connection.exec_driver_sql(f"KILL {session}")


@pytest.mark.parametrize("db", ["postgresql", "mysql"], indirect=True)
@case("faults", "the session of a run waiting for the lock is killed", exit_code="3",
      message="lost the connection while waiting for the migration lock: ...; nothing was"
      " changed", database="where the holder leaves it", log="consistent: verify passes",
      backends="PostgreSQL, MariaDB")  # fmt: skip
def test_a_waiting_run_whose_session_is_killed(run: Runner, slow: Database, tmp_path: Path) -> None:
    holder = Process(run, "upgrade", "slowpoke", seconds=60, gate=tmp_path / "gate")
    holder.wait_for(IN_S2)
    [holding] = _sessions(slow)
    waiter = Process(run, "upgrade", "slowpoke", "--lock-timeout", "60")
    waiter.wait_for("waiting up to")
    [waiting] = [s for s in _sessions(slow) if s != holding]
    _kill(slow, waiting)
    line = one_line(waiter.finish(), 3)
    assert "while waiting for the migration lock" in line
    assert "nothing was changed" in line
    holder.open_gate()
    assert holder.finish().returncode == 0
    settle(run, "slowpoke", HEAD)


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@case("faults", "the lock holder's session is terminated while two runs wait",
      exit_code="3 for the holder, 0 for the others",
      message="...; the connection was lost and the project's lock with it, so the failure"
      " is not in the change log; the database is at base", database="head (a waiter finished)",
      log="consistent: no row from the killed run", backends="PostgreSQL")  # fmt: skip
def test_the_holder_is_terminated_with_waiters_queued(
    run: Runner, slow: Database, tmp_path: Path
) -> None:
    holder = Process(run, "upgrade", "slowpoke", seconds=60, gate=tmp_path / "gate")
    holder.wait_for(IN_S2)
    [holding] = _sessions(slow)
    waiters = [Process(run, "upgrade", "slowpoke", "--lock-timeout", "60") for _ in range(2)]
    for waiter in waiters:
        waiter.wait_for("waiting up to")
    _kill(slow, holding)
    holder.open_gate()
    assert "connection was lost" in one_line(holder.finish(), 3)
    results = [w.finish() for w in waiters]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert sum("nothing to do" in r.stdout for r in results) == 1
    settle(run, "slowpoke", HEAD)


@pytest.mark.xdist_group("private-pg")
@case("faults", "the PostgreSQL server restarts in the middle of a revision", exit_code="3",
      message="...; the connection was lost and the project's lock with it ...; the database"
      " is at base", database="base (rolled back): the rerun applies everything",
      log="consistent: verify passes", backends="PostgreSQL (a private cluster)")  # fmt: skip
def test_the_server_restarts_in_the_middle_of_a_revision(
    run: Runner, root: Path, private_pg: PrivateServer
) -> None:
    name = f"restart_{os.getpid()}"
    url = private_pg.create_database(name)
    load_scenario("slow", root)
    run.env["SLOWPOKE_DATABASE_URL"] = url.render_as_string(hide_password=False)
    proc = Process(run, "upgrade", "slowpoke", seconds=60, gate=root / "gate")
    proc.wait_for(IN_S2)
    private_pg.ctl("restart", "-m", "fast")
    private_pg.wait_ready()
    proc.open_gate()
    line = one_line(proc.finish(), 3)
    assert "database is at base" in line
    assert PASSWORD not in line
    settle(run, "slowpoke", [])
    run.ok("upgrade", "slowpoke")
    settle(run, "slowpoke", HEAD)


@pytest.mark.xdist_group("private-pg")
@case("faults", "wrong password on a server that checks passwords", exit_code="3",
      message="cannot connect to postgresql+psycopg://app:***@...: ... password authentication"
      " failed", database="untouched", log="-", backends="PostgreSQL (a private cluster)",
      )  # fmt: skip
def test_wrong_password_on_a_checking_server(
    run: Runner, root: Path, private_pg: PrivateServer
) -> None:
    load_scenario("two_projects", root)
    wrong = private_pg.url(password=PASSWORD + "-typo").render_as_string(hide_password=False)
    for verb in (["status", "alpha"], ["upgrade", "alpha"], ["log", "alpha", "--json"]):
        outcome = run(*verb, "--url", wrong)
        line = one_line(outcome, 3)
        assert "password authentication failed" in line
        assert PASSWORD not in outcome.output


@case("faults", "connection refused (nothing listens on the port)", exit_code="3",
      message="cannot connect to ...: connection refused", database="untouched", log="-",
      backends="PostgreSQL, MariaDB URLs")  # fmt: skip
def test_refused_port(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    for url in (
        f"postgresql://app:{PASSWORD}@127.0.0.1:9/x",
        f"mysql://app:{PASSWORD}@127.0.0.1:9/x",
    ):
        outcome = run("upgrade", "alpha", "--url", url)
        assert "cannot connect" in one_line(outcome, 3)
        assert PASSWORD not in outcome.output


@case("faults", "a host name that does not resolve", exit_code="3",
      message="cannot connect to ...: ... name ...", database="untouched", log="-",
      backends="PostgreSQL, MariaDB URLs")  # fmt: skip
def test_unresolvable_host(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    for url in (
        f"postgresql://app:{PASSWORD}@db.invalid/x",
        f"mysql://app:{PASSWORD}@db.invalid/x",
    ):
        outcome = run("status", "alpha", "--url", url)
        assert "cannot connect" in one_line(outcome, 3)
        assert PASSWORD not in outcome.output


@case("faults", "a SQLite database file the user may not write", exit_code="2",
      message="the database file ... cannot be written by this user: ... (check the permissions"
      " ...); the database is at ...", database="unchanged", log="unchanged",
      backends="SQLite")  # fmt: skip
def test_a_read_only_sqlite_file(run: Runner, root: Path, tmp_path: Path) -> None:
    load_scenario("two_projects", root)
    database = tmp_path / "ro" / "alpha.sqlite"
    database.parent.mkdir()
    run.env["ALPHA_DATABASE_URL"] = f"sqlite:///{database}"
    run.ok("upgrade", "alpha", "a1")
    database.chmod(0o444)
    database.parent.chmod(0o555)
    try:
        if os.access(database, os.W_OK):
            # root writes any file: open it read-only instead, as SQLite would be then.
            run.env["ALPHA_DATABASE_URL"] = f"sqlite:///file:{database}?mode=ro&uri=true"
        line = one_line(run("upgrade", "alpha"), 2)
        assert "cannot be written" in line
    finally:
        database.parent.chmod(0o755)
        database.chmod(0o644)
    settle(run, "alpha", ["a1"])


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
@case("faults", "SQLite: a second run through a symlink to the same file", exit_code="0",
      message="waiting up to ...s for the lock held by pid ...", database="head, applied once",
      log="consistent: verify passes", backends="SQLite")  # fmt: skip
def test_a_symlink_to_the_same_sqlite_file_shares_its_lock(
    run: Runner, slow: Database, tmp_path: Path
) -> None:
    database = str(slow.url.database)
    link = tmp_path / "link.sqlite"
    link.symlink_to(database)
    first = Process(run, "upgrade", "slowpoke", seconds=60, gate=tmp_path / "gate")
    first.wait_for(IN_S2)
    second = Process(run, "upgrade", "slowpoke", "--lock-timeout", "60",
                     env={"SLOWPOKE_DATABASE_URL": f"sqlite:///{link}"})  # fmt: skip
    second.wait_for("waiting up to")
    first.open_gate()
    assert first.finish().returncode == 0
    done = second.finish()
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stdout
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM second").fetchone() == (1,)
    settle(run, "slowpoke", HEAD)


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@case("faults", "the lock's holder named while waiting is in this database", exit_code="5",
      message="could not take the migration lock within 1s; held by pid <the holder here>",
      database="untouched", log="-", backends="PostgreSQL")  # fmt: skip
def test_the_holder_named_is_the_one_in_this_database(
    run: Runner, slow: Database, servers: ServerPool, tmp_path: Path
) -> None:
    from runner.db import locking

    key = locking.advisory_key("slowpoke")
    with servers.fresh("postgresql", tmp_path) as other:
        elsewhere = sa.create_engine(other.url, poolclass=sa.pool.NullPool)
        here = sa.create_engine(slow.url, poolclass=sa.pool.NullPool)
        with elsewhere.connect() as a, here.connect() as b:
            a.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
            b.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
            pid = b.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            line = one_line(run("upgrade", "slowpoke", "--lock-timeout", "1"), 5)
            assert f"held by pid {pid} " in line
        elsewhere.dispose()
        here.dispose()


@pytest.mark.mysql
@case("inputs", "a non-latin1 revision message on a latin1 MariaDB database", exit_code="0",
      message="-", database="head", log="the message stored as written (utf8mb4)",
      backends="MariaDB")  # fmt: skip
def test_a_non_latin1_message_on_a_latin1_database(
    run: Runner, root: Path, servers: ServerPool
) -> None:
    import uuid

    admin = servers.admin_url("mysql")
    name = f"dalembic_l1_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET latin1")
    try:
        load_scenario("two_projects", root)
        run.env["ALPHA_DATABASE_URL"] = admin.set(database=name).render_as_string(
            hide_password=False
        )
        run.ok("revision", "alpha", "-m", "Grüße, 日本語, emoji 🎉")
        run.ok("upgrade", "alpha")
        run.ok("upgrade", "alpha")
        entries = json.loads(run.ok("log", "alpha", "--json").out)["projects"][0]["entries"]
        assert any("日本語" in e["description"] for e in entries)
        settle(run, "alpha")
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE {name}")
        engine.dispose()


@pytest.mark.parametrize("engine", ["answers", "absent"])
@case("faults", "the Docker probe, with an engine and without one", exit_code="-",
      message="-", database="-", log="-", backends="- (no database)")  # fmt: skip
def test_the_docker_probe_closes_its_client(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unclosed client's socket became a ResourceWarning in whatever test ran next,
    so a fresh clone's `make test` failed at random."""
    import gc
    import warnings

    from runner.db import scratch

    if engine == "absent":
        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scratch.docker_answers()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
