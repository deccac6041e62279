"""Scenario trees from tests/scenarios, driven through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.conftest import CONCURRENT_INDEX, SCENARIOS, Runner, load_scenario
from tests.databases import Database, ServerPool


def status_of(run: Runner, project: str) -> dict[str, Any]:
    document = json.loads(run.ok("status", project, "--json").out)
    assert document["schema_version"] == 1
    assert document["command"] == "status"
    result: dict[str, Any] = document["projects"][0]
    return result


def test_two_projects_share_one_database(run: Runner, root: Path, db: Database) -> None:
    load_scenario("two_projects", root)
    upgraded = json.loads(run.ok("upgrade", "--all", "--url", db.url_string, "--json").out)
    assert [p["project"] for p in upgraded["projects"]] == ["alpha", "beta"]
    assert {"orders", "users", "alembic_version_alpha", "alembic_version_beta"} <= db.tables()

    run.env["ALPHA_DATABASE_URL"] = run.env["BETA_DATABASE_URL"] = db.url_string
    assert status_of(run, "alpha")["current"] == ["a2"]
    assert status_of(run, "beta")["current"] == ["b1"]

    # Each project only sees, and only undoes, its own history.
    run.ok("downgrade", "alpha", "base")
    assert "orders" not in db.tables()
    assert "users" in db.tables()
    assert status_of(run, "alpha")["current"] == []
    assert status_of(run, "beta")["current"] == ["b1"]
    assert db.scalar_rows("SELECT version_num FROM alembic_version_beta") == [("b1",)]


def test_status_without_name_covers_every_project(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    run.ok("upgrade", "beta")
    projects = json.loads(run.ok("status", "--json").out)["projects"]
    assert {p["project"]: p["up_to_date"] for p in projects} == {"alpha": False, "beta": True}
    assert {p["project"]: len(p["pending"]) for p in projects} == {"alpha": 2, "beta": 0}


def test_plan_all_renders_each_pending_project(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    run.ok("upgrade", "alpha", "a1")
    plans = json.loads(run.ok("plan", "--all", "--json").out)["projects"]
    by_name = {p["project"]: p for p in plans}
    assert by_name["alpha"]["before"] == ["a1"]
    assert [r["revision"] for r in by_name["alpha"]["revisions"]] == ["a2"]
    # Offline SQL from the database's current revision: a1 is not rendered again.
    assert "ADD COLUMN note" in by_name["alpha"]["sql"]
    assert "CREATE TABLE orders" not in by_name["alpha"]["sql"]
    assert "CREATE TABLE users" in by_name["beta"]["sql"]
    # Reading the plan changed nothing.
    assert status_of(run, "alpha")["current"] == ["a1"]


def _stock_project(root: Path, name: str) -> Path:
    """A project made by plain `alembic init`, dropped into projects/ unchanged."""
    ini = root / "projects" / name / "alembic.ini"
    ini.parent.mkdir(parents=True)
    command.init(Config(str(ini)), str(ini.parent / "migrations"))
    return ini


def test_stock_alembic_init_project(run: Runner, root: Path, db: Database) -> None:
    ini = _stock_project(root, "legacy")
    run.env["LEGACY_DATABASE_URL"] = db.url_string
    created = run.ok("revision", "legacy", "-m", "stock revision")
    [path] = (ini.parent / "migrations" / "versions").glob("*stock_revision.py")
    assert path.name in created.out
    text = path.read_text().replace(
        'def upgrade() -> None:\n    """Upgrade schema."""\n    pass',
        "def upgrade() -> None:\n    op.create_table('legacy_t', sa.Column('id', sa.Integer))",
    )
    assert "legacy_t" in text
    path.write_text(text)

    run.ok("upgrade", "legacy")
    assert "legacy_t" in db.tables()
    status = status_of(run, "legacy")
    assert status["version_table"] == "alembic_version"  # the stock env.py's choice
    assert status["up_to_date"] is True

    # Plain alembic (its stock env.py reads only the ini) agrees with the runner.
    ini.write_text(
        ini.read_text().replace(
            "driver://user:pass@localhost/dbname", db.url_string.replace("%", "%%")
        )
    )
    current = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "current"],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )
    assert status["current"][0] in current.stdout


def test_runner_project_is_drivable_by_plain_alembic(run: Runner, root: Path, db: Database) -> None:
    load_scenario("two_projects", root)
    env = {"PATH": "/usr/bin:/bin", "ALPHA_DATABASE_URL": db.url_string}
    ini = root / "projects" / "alpha" / "alembic.ini"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "a1"],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env=env,
    )
    run.env["ALPHA_DATABASE_URL"] = db.url_string
    assert status_of(run, "alpha")["current"] == ["a1"]
    assert "alembic_version_alpha" in db.tables()


def test_branches_and_merge(run: Runner, root: Path, db: Database) -> None:
    load_scenario("branches", root)
    run.env["TREE_DATABASE_URL"] = db.url_string
    heads = json.loads(run.ok("heads", "tree", "--json").out)["projects"][0]["revisions"]
    assert [h["revision"] for h in heads] == ["r3"]
    assert heads[0]["is_merge"] is True
    assert heads[0]["down_revisions"] == ["r2a", "r2b"]

    run.ok("upgrade", "tree", "r2a")
    status = status_of(run, "tree")
    assert status["current"] == ["r2a"]
    assert sorted(status["pending"]) == ["r2b", "r3"]
    run.ok("upgrade", "tree")
    assert status_of(run, "tree")["current"] == ["r3"]
    assert {"t1", "t2a", "t2b", "t3"} <= db.tables()
    run.ok("downgrade", "tree", "r1")
    assert db.tables() & {"t2a", "t2b", "t3"} == set()


def test_two_heads_are_named_and_heads_target_works(run: Runner, root: Path) -> None:
    load_scenario("branches", root)
    (root / "projects" / "tree" / "versions" / "r3_merge.py").unlink()
    refused = run("upgrade", "tree")
    assert refused.code == 2
    assert "r2a" in refused.err
    assert "r2b" in refused.err
    assert status_of(run, "tree")["current"] == []  # nothing ran

    no_base = run("revision", "tree", "-m", "on which head?")
    assert no_base.code == 2
    assert "--head" in no_base.err
    run.ok("revision", "tree", "-m", "on the left", "--head", "r2a")

    run.ok("upgrade", "tree", "heads")
    status = status_of(run, "tree")
    assert status["current"] == status["heads"]
    assert len(status["current"]) == 2
    assert "r2b" in status["current"]

    merged = run.ok("merge", "tree")
    heads = json.loads(run.ok("heads", "tree", "--json").out)["projects"][0]["revisions"]
    assert len(heads) == 1
    assert heads[0]["is_merge"] is True
    assert heads[0]["revision"] in merged.out
    assert sorted(heads[0]["down_revisions"]) == sorted(status["heads"])
    run.ok("upgrade", "tree")  # one head again: plain upgrade works
    assert status_of(run, "tree")["current"] == [heads[0]["revision"]]
    assert run("merge", "tree").code == 2  # nothing left to merge


def test_sqlite_batch_mode_alters_and_drops_columns(
    run: Runner, root: Path, tmp_path: Path
) -> None:
    load_scenario("batch", root)
    run.ok("upgrade", "batchy")
    engine = sa.create_engine(f"sqlite:///{root / 'var' / 'batchy.sqlite'}")
    with engine.connect() as connection:
        columns = {c["name"]: c for c in sa.inspect(connection).get_columns("people")}
        rows = connection.exec_driver_sql("SELECT id, name FROM people").all()
    assert set(columns) == {"id", "name"}
    assert columns["name"]["nullable"] is False
    assert rows == [(1, "Ada")]

    run.ok("downgrade", "batchy", "-1")
    with engine.connect() as connection:
        columns = {c["name"]: c for c in sa.inspect(connection).get_columns("people")}
    engine.dispose()
    assert set(columns) == {"id", "name", "nickname"}
    assert columns["name"]["nullable"] is True


def test_status_of_all_projects_shows_the_ones_it_can_read(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    run.ok("upgrade", "beta")
    run.env["ALPHA_DATABASE_URL"] = "postgresql://someone:pw-hidden@127.0.0.1:1/db"
    outcome = run("status", "--json")
    assert outcome.code == 3  # the first problem's code: unreachable
    projects = {p["project"]: p for p in json.loads(outcome.out)["projects"]}
    assert projects["beta"]["up_to_date"] is True
    assert "cannot connect" in projects["alpha"]["problem"]
    assert "pw-hidden" not in outcome.output
    assert outcome.err.strip().splitlines()[-1] == "error: status: 1 project(s) could not be read"


@pytest.mark.postgresql
def test_create_index_concurrently_runs(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path
) -> None:
    load_scenario("two_projects", root)
    (root / "projects" / "alpha" / "versions" / "a3_index.py").write_text(CONCURRENT_INDEX)
    with servers.fresh("postgresql", tmp_path) as db:
        run.env["ALPHA_DATABASE_URL"] = db.url_string
        upgraded = run.ok("upgrade", "alpha")
        # It cannot run inside one transaction: the run commits per revision and says so.
        assert "autocommit_block" in upgraded.err
        indexes = db.scalar_rows("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'")
        assert ("ix_orders_note",) in indexes
        run.ok("downgrade", "alpha", "a2")
        assert status_of(run, "alpha")["current"] == ["a2"]


def test_stock_project_on_sqlite_is_locked_too(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path
) -> None:
    """A stock env.py opens its own connection, so BEGIN IMMEDIATE on ours cannot lock
    it; the runners' lock file still lets only one of four concurrent runs migrate."""
    ini = _stock_project(root, "legacy")
    versions = ini.parent / "migrations" / "versions"
    for source in (SCENARIOS / "slow" / "projects" / "slowpoke" / "versions").glob("*.py"):
        shutil.copy(source, versions / source.name)
    with servers.fresh("sqlite", tmp_path) as database:
        env = {**os.environ, **run.env, "RUNNER_ROOT": str(root), "SLOWPOKE_SECONDS": "0.5",
               "LEGACY_DATABASE_URL": database.url_string}  # fmt: skip
        procs = [
            subprocess.Popen([sys.executable, "-m", "runner", "upgrade", "legacy"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]  # fmt: skip
        outcomes = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            outcomes.append((proc.returncode, out, err))
        for code, out, err in outcomes:
            assert code == 0, out + err
        assert sum("nothing to do" in out for _, out, _ in outcomes) == 3
        assert database.scalar_rows("SELECT version_num FROM alembic_version") == [("s3",)]
        assert database.scalar_rows("SELECT id FROM second") == [(1,)]
