"""Targets: a project declares where it deploys (dialect, environments, fleets) in its
targets.toml, and one run reaches many databases, in parallel, resumable, sharded.

Everything runs through the real CLI on real databases: SQLite files, and fresh
databases on the PostgreSQL and MariaDB servers the suite found.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, REPO, Runner, load_scenario
from tests.databases import Database, ServerPool

BAD = "postgresql+psycopg://nobody:pw-unreachable@127.0.0.1:1/nowhere"  # nothing listens


def _declare(root: Path, project: str, text: str) -> None:
    (root / "projects" / project / "targets.toml").write_text(text)


@pytest.fixture
def databases() -> Iterator[ExitStack]:
    """Where a test's fresh databases are kept; all dropped when it ends."""
    with ExitStack() as stack:
        yield stack


def fresh(stack: ExitStack, servers: ServerPool, backend: str, tmp_path: Path,
          count: int) -> list[Database]:  # fmt: skip
    """``count`` fresh databases on ``backend``."""
    return [stack.enter_context(servers.fresh(backend, tmp_path, f"t{i:02d}"))
            for i in range(count)]  # fmt: skip


def _json(outcome_out: str) -> dict:  # type: ignore[type-arg]
    return json.loads(outcome_out)  # type: ignore[no-any-return]


# --- environments ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_environments_dev_staging_prod(
    run: Runner, root: Path, servers: ServerPool, databases: ExitStack, tmp_path: Path,
    backend: str,
) -> None:  # fmt: skip
    dev, staging, prod = fresh(databases, servers, backend, tmp_path, 3)
    load_scenario("two_projects", root)
    _declare(
        root,
        "alpha",
        f"""
dialect = "{backend}"

[env.dev]
url_env = "ALPHA_DEV_URL"

[env.staging]

[env.prod]
url_env = "ALPHA_PROD_URL"
protected = true
""",
    )  # staging: the default variable, ALPHA_STAGING_DATABASE_URL
    run.env.update(ALPHA_DEV_URL=dev.url_string, ALPHA_STAGING_DATABASE_URL=staging.url_string,
                   ALPHA_PROD_URL=prod.url_string)  # fmt: skip

    unnamed = run("upgrade", "alpha")
    assert unnamed.code == 2
    assert "deploys to dev, staging, prod" in unnamed.err

    upgraded = run.ok("upgrade", "alpha", "--env", "dev")
    assert "alpha@dev: upgrade base -> a1" in upgraded.err
    assert "orders" in dev.tables()
    assert "orders" not in staging.tables()

    refused = run("upgrade", "alpha", "--env", "prod")
    assert refused.code == 4
    assert "--confirm prod" in refused.err
    assert "orders" not in prod.tables()
    run.ok("upgrade", "alpha", "--env", "prod", "--confirm", "prod")
    assert "orders" in prod.tables()

    status = _json(run.ok("status", "alpha", "--json").out)
    states = {p["target"]: p["up_to_date"] for p in status["projects"]}
    assert states == {"dev": True, "staging": False, "prod": True}

    # --all: every target that is safe; the protected one is left out and named.
    everywhere = _json(run.ok("upgrade", "alpha", "--all", "--json").out)
    rows = {r["target"]: r["outcome"] for r in everywhere["summary"]["rows"]}
    assert rows == {"dev": "ok", "staging": "ok"}
    assert everywhere["summary"]["skipped"][0]["target"] == "alpha@prod"
    assert "orders" in staging.tables()


def test_a_typo_in_the_targets_file_is_an_error_naming_the_key(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    _declare(root, "alpha", '[env.prod]\nurl_env = "X"\nprotect = true\n')
    refused = run("status", "alpha")
    assert refused.code == 2
    assert "unknown key 'protect'; did you mean 'protected'?" in refused.err
    _declare(root, "alpha", '[env.dev]\nurl = "postgresql://app:s3cret@db/app"\n')
    refused = run("status", "alpha")
    assert refused.code == 2
    assert "url holds a password" in refused.err
    assert "s3cret" not in refused.output


def test_a_declared_server_dialect_never_falls_back_to_sqlite(run: Runner, root: Path) -> None:
    run.ok("new", "gamma", "--dialect", "postgresql")
    run.ok("revision", "gamma", "-m", "first")
    for verb in (["upgrade", "gamma"], ["status", "gamma"], ["plan", "gamma"]):
        refused = run(*verb)
        assert refused.code == 2, verb
        assert "set GAMMA_DATABASE_URL" in refused.err
    everything = run("upgrade", "--all")
    assert everything.code == 2
    assert not (root / "var" / "gamma.sqlite").exists()
    listed = run.ok("list").out
    assert "not set: GAMMA_DATABASE_URL" in listed

    run.env["GAMMA_DATABASE_URL"] = f"sqlite:///{root}/var/other.sqlite"
    wrong = run("upgrade", "gamma")
    assert wrong.code == 2
    assert "declares dialect = 'postgresql'" in wrong.err
    assert not (root / "var" / "other.sqlite").exists()


@pytest.mark.mysql
def test_lint_and_test_of_a_declared_mariadb_project_run_as_mariadb(
    run: Runner, root: Path, servers: ServerPool
) -> None:
    servers.admin_url("mysql")  # a server for the round trip (or a skip saying why not)
    load_scenario("two_projects", root)
    _declare(root, "alpha", 'dialect = "mysql"\n')
    assert "ALPHA_DATABASE_URL" not in os.environ
    linted = _json(run.ok("lint", "alpha", "--json").out)["projects"][0]
    assert linted["dialect"] == "mysql"
    tested = _json(run.ok("test", "alpha", "--json").out)["projects"][0]
    assert tested["dialect"] == "mysql"
    assert tested["passed"] is True


# --- fleets -----------------------------------------------------------------------------


@pytest.mark.postgresql
@pytest.mark.slow
def test_a_fleet_of_20_with_one_unreachable_and_one_conflicting_member(
    run: Runner, root: Path, servers: ServerPool, databases: ExitStack, tmp_path: Path
) -> None:
    members = fresh(databases, servers, "postgresql", tmp_path, 20)
    load_scenario("two_projects", root)
    _declare(root, "alpha", 'dialect = "postgresql"\n[group.tenants]\nmembers_env = "TENANTS"\n')
    with members[13].connect() as connection:  # someone made "orders" by hand there
        connection.exec_driver_sql("CREATE TABLE orders (id integer)")
        connection.commit()
    lines = [f"t{i:02d} {BAD if i == 7 else db.url_string}" for i, db in enumerate(members)]
    run.env["TENANTS"] = "\n".join(lines)

    first = run("upgrade", "alpha", "--group", "tenants", "--jobs", "4", "--json")
    assert first.code == 6, first.err
    summary = _json(first.out)["summary"]
    outcomes = {r["target"]: r for r in summary["rows"]}
    failed = {t for t, r in outcomes.items() if r["outcome"] == "failed"}
    assert failed == {"tenants/t07", "tenants/t13"}
    assert outcomes["tenants/t07"]["exit_code"] == 3
    assert "cannot connect" in outcomes["tenants/t07"]["error"]
    assert outcomes["tenants/t13"]["exit_code"] == 1
    assert "orders" in outcomes["tenants/t13"]["error"]
    assert summary["ok"] == 18
    assert "pw-unreachable" not in first.output
    assert "2 of 20 target(s) failed: alpha@tenants/t07 (exit 3), alpha@tenants/t13" in first.err
    for i, db in enumerate(members):
        if i not in (7, 13):
            assert db.scalar_rows("SELECT version_num FROM alembic_version_alpha") == [("a2",)]

    # Fixed: t07 reachable, the stray table gone. A rerun does only what is pending.
    with members[13].connect() as connection:
        connection.exec_driver_sql("DROP TABLE orders")
        connection.commit()
    lines[7] = f"t07 {members[7].url_string}"
    run.env["TENANTS"] = "\n".join(lines)
    second = _json(run.ok("upgrade", "alpha", "--group", "tenants", "--jobs", "4", "--json").out)
    ran = {p["target"] for p in second["projects"] if p["steps"]}
    assert ran == {"tenants/t07", "tenants/t13"}

    fleet = run.ok("status", "alpha", "--group", "tenants").out
    assert "20 target(s): 20 at head, 0 behind" in fleet


@pytest.mark.mysql
def test_a_mariadb_fleet_of_five(
    run: Runner, root: Path, servers: ServerPool, databases: ExitStack, tmp_path: Path
) -> None:
    members = fresh(databases, servers, "mysql", tmp_path, 5)
    load_scenario("two_projects", root)
    listing = root / "tenants.txt"
    listing.write_text("".join(f"m{i} {db.url_string}\n" for i, db in enumerate(members)))
    _declare(root, "alpha", 'dialect = "mysql"\n[group.tenants]\nmembers_file = "tenants.txt"\n')
    done = _json(run.ok("upgrade", "alpha", "--group", "tenants", "--jobs", "2", "--json").out)
    assert done["summary"]["ok"] == 5
    assert all("orders" in db.tables() for db in members)


def _sqlite_fleet(root: Path, count: int) -> list[Path]:
    folder = root / "var" / "tenants"
    folder.mkdir(parents=True)
    paths = [folder / f"tenant{i:03d}.sqlite" for i in range(count)]
    for path in paths:
        sqlite3.connect(path).close()
    _declare(root, "alpha", 'dialect = "sqlite"\n[group.tenants]\n'
                            'sqlite_glob = "var/tenants/*.sqlite"\n')  # fmt: skip
    return paths


@pytest.mark.slow
def test_a_sqlite_fleet_of_200_files(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    paths = _sqlite_fleet(root, 200)
    run.subprocess("upgrade", "alpha", "--group", "tenants", "--jobs", "4")
    for path in paths:
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT version_num FROM alembic_version_alpha").fetchall() \
                == [("a2",)]  # fmt: skip
    status = run.ok("status", "alpha", "--group", "tenants", "--jobs", "4").out
    assert "200 target(s): 200 at head" in status


def test_shards_cover_every_member_exactly_once(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    _sqlite_fleet(root, 30)
    listed = _json(run.ok("status", "alpha", "--group", "tenants", "--json").out)["projects"]
    every = {p["target"] for p in listed}
    assert len(every) == 30
    shares = []
    for i in (1, 2, 3):
        listed = _json(run.ok("status", "alpha", "--group", "tenants", "--shard", f"{i}/3",
                              "--json").out)["projects"]  # fmt: skip
        shares.append({p["target"] for p in listed})
    assert set().union(*shares) == every
    assert sum(len(s) for s in shares) == 30
    assert all(shares), "each of three shards of 30 gets some"
    # The same split from the CI engines' own variables.
    run.env.update(CI_NODE_INDEX="2", CI_NODE_TOTAL="3")
    gitlab = _json(run.ok("status", "alpha", "--group", "tenants", "--shard", "auto",
                          "--json").out)["projects"]  # fmt: skip
    assert {p["target"] for p in gitlab} == shares[1]
    run.env.clear()
    run.env.update(JOB_COMPLETION_INDEX="2", RUNNER_SHARDS="3")
    indexed = _json(run.ok("status", "alpha", "--group", "tenants", "--shard", "auto",
                           "--json").out)["projects"]  # fmt: skip
    assert {p["target"] for p in indexed} == shares[2]


def test_a_failed_canary_stops_the_rollout(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    paths = _sqlite_fleet(root, 6)
    with sqlite3.connect(paths[1]) as connection:
        connection.execute("CREATE TABLE orders (id integer)")
    outcome = run("upgrade", "alpha", "--group", "tenants", "--canary", "2", "--json")
    assert outcome.code == 6
    rows = [r["outcome"] for r in _json(outcome.out)["summary"]["rows"]]
    assert rows == ["ok", "failed", "not run", "not run", "not run", "not run"]
    assert "4 not run" in outcome.err
    # Without a canary a fleet carries on past a failure; --fail-fast stops it.
    carried = run("upgrade", "alpha", "--group", "tenants", "--json")
    assert [r["outcome"] for r in _json(carried.out)["summary"]["rows"]].count("ok") == 5


def test_environments_in_a_row_stop_at_the_first_failure(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    var = root / "var"
    var.mkdir()
    with sqlite3.connect(var / "dev.sqlite") as connection:
        connection.execute("CREATE TABLE orders (id integer)")
    _declare(root, "alpha", '[env.dev]\nsqlite = "var/dev.sqlite"\n'
                            '[env.staging]\nsqlite = "var/staging.sqlite"\n')  # fmt: skip
    outcome = run("upgrade", "alpha", "--target", "dev", "--target", "staging", "--json")
    assert outcome.code == 6
    rows = {r["target"]: r["outcome"] for r in _json(outcome.out)["summary"]["rows"]}
    assert rows == {"dev": "failed", "staging": "not run"}
    assert not (var / "staging.sqlite").exists()


def test_a_fleet_run_writes_junit_and_a_saved_plan_names_its_target(
    run: Runner, root: Path
) -> None:
    load_scenario("two_projects", root)
    _sqlite_fleet(root, 3)
    report = root / "reports" / "upgrade.xml"
    run.ok("upgrade", "alpha", "--group", "tenants", "--junit", str(report))
    xml = report.read_text()
    assert xml.count("<testcase") == 3
    assert 'name="tenants/tenant000"' in xml

    _declare(root, "alpha", '[env.dev]\nsqlite = "var/dev.sqlite"\n[env.prod]\n'
                            'sqlite = "var/prod.sqlite"\nprotected = true\n')  # fmt: skip
    plan = root / "plan.json"
    run.ok("plan", "alpha", "--env", "prod", "--out", str(plan))
    assert json.loads(plan.read_text())["targets"][0]["target"] == "prod"
    refused = run("apply", str(plan))
    assert refused.code == 4  # prod is protected: apply needs the confirmation too
    run.ok("apply", str(plan), "--confirm", "prod")
    assert not (root / "var" / "dev.sqlite").exists()
    with sqlite3.connect(root / "var" / "prod.sqlite") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version_alpha").fetchall() \
            == [("a2",)]  # fmt: skip


# --- session settings -------------------------------------------------------------------

SLEEPY = '''"""a statement that takes too long"""

from alembic import op

revision = "a3"
down_revision = "a2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("{sleep}")


def downgrade() -> None:
    pass
'''


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b.id != "sqlite"])
def test_a_targets_statement_timeout_stops_a_long_statement(
    run: Runner, root: Path, servers: ServerPool, databases: ExitStack, tmp_path: Path,
    backend: str,
) -> None:  # fmt: skip
    [db] = fresh(databases, servers, backend, tmp_path, 1)
    load_scenario("two_projects", root)
    sleep = "SELECT pg_sleep(5)" if db.backend == "postgresql" else "SELECT SLEEP(5) FROM DUAL"
    (root / "projects" / "alpha" / "versions" / "a3_sleepy.py").write_text(
        SLEEPY.replace("{sleep}", sleep))  # fmt: skip
    _declare(root, "alpha", f'dialect = "{db.backend}"\n[env.dev]\nstatement_timeout = 1\n')
    run.env["ALPHA_DEV_DATABASE_URL"] = db.url_string
    failed = run("upgrade", "alpha", "--env", "dev")
    assert failed.code == 1, failed.output
    assert "failed in upgrade a2 -> a3" in failed.err


@pytest.mark.postgresql
def test_a_targets_schema_is_where_its_tables_go(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path
) -> None:
    with servers.fresh("postgresql", tmp_path) as db:
        with db.connect() as connection:
            connection.exec_driver_sql("CREATE SCHEMA tenant_a")
            connection.commit()
        load_scenario("two_projects", root)
        _declare(root, "alpha", 'dialect = "postgresql"\n[env.a]\nschema = "tenant_a"\n')
        run.env["ALPHA_A_DATABASE_URL"] = db.url_string
        run.ok("upgrade", "alpha", "--env", "a")
        rows = db.scalar_rows("SELECT table_schema FROM information_schema.tables"
                              " WHERE table_name = 'orders'")  # fmt: skip
        assert rows == [("tenant_a",)]


# --- make, and the terminal ------------------------------------------------------------


def test_make_reaches_environments_and_groups(root: Path) -> None:
    if not (REPO / ".venv" / ".installed").is_file():
        pytest.skip("no .venv yet: run `make bootstrap`")
    load_scenario("two_projects", root)
    _sqlite_fleet(root, 3)
    env = {**os.environ, "RUNNER_ROOT": str(root)}
    made = subprocess.run(["make", "-s", "-C", str(REPO), "upgrade", "PROJECT=alpha",
                           "GROUP=tenants", "JOBS=2", "JSON=1"], capture_output=True, text=True,
                          env=env, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["summary"]["ok"] == 3
    status = subprocess.run(["make", "-s", "-C", str(REPO), "status", "ALL=1", "JSON=1"],
                            capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert len(json.loads(status.stdout)["projects"]) == 4  # 3 tenants and beta


def test_a_fleet_shows_its_count_on_a_terminal(run: Runner, root: Path) -> None:
    from tests.test_first_hour import _on_a_terminal

    load_scenario("two_projects", root)
    _sqlite_fleet(root, 4)
    code, shown = _on_a_terminal(root, {}, "upgrade", "alpha", "--group", "tenants", "--jobs", "2")
    assert code == 0, shown
    assert "targets 4/4 done, 0 failed" in shown
    assert sys.executable  # the CLI ran in its own process, on a pseudo-terminal


@pytest.mark.postgresql
def test_a_group_listed_by_a_query_on_the_tenant_catalog(
    run: Runner, root: Path, servers: ServerPool, databases: ExitStack, tmp_path: Path
) -> None:
    catalog, *tenants = fresh(databases, servers, "postgresql", tmp_path, 4)
    with catalog.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE tenants (name text, active boolean)")
        for i, db in enumerate(tenants):
            connection.exec_driver_sql("INSERT INTO tenants VALUES (%s, %s)",
                                       (db.url.database, i != 1))  # fmt: skip
        connection.commit()
    template = tenants[0].url.set(database="NAME").render_as_string(hide_password=False)
    load_scenario("two_projects", root)
    _declare(
        root,
        "alpha",
        f"""dialect = "postgresql"
[env.catalog]
url_env = "CATALOG_URL"
[group.tenants]
catalog = "catalog"
query = "SELECT name FROM tenants WHERE active ORDER BY name"
url_template = "{template.replace("NAME", "{name}")}"
""",
    )
    run.env["CATALOG_URL"] = catalog.url_string
    done = _json(run.ok("upgrade", "alpha", "--group", "tenants", "--json").out)
    assert done["summary"]["ok"] == 2
    assert ["orders" in db.tables() for db in tenants] == [True, False, True]
    assert "orders" not in catalog.tables()  # the catalog is read, never migrated
