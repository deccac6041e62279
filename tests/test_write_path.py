"""How a write uses the database: one pass through env.py, one commit, the schema
fingerprint inside it (issue 18), through the real CLI on real databases.

Where DDL is transactional (SQLite, PostgreSQL) an upgrade is one transaction: the
checks, the steps, their change-log rows and the fingerprint of the schema they
left commit together, or nothing does. These tests hold the runner to that, and
to the fallback a stock env.py (its own connection) needs.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from runner.project.objects import Scope
from runner.run import changelog
from runner.run import fingerprint as fingerprint_module
from tests.conftest import Runner, load_scenario
from tests.databases import Database, ServerPool

TRANSACTIONAL = ["sqlite", "postgresql"]  # DDL in transactions: one pass, one commit
LOG = changelog.table_name("alpha")


def alpha(run: Runner, root: Path, database: Database) -> None:
    """The two_projects scenario's alpha (a1 creates orders, a2 adds a column) on ``database``."""
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = database.url_string


def commits_seen(database: Database) -> int:
    """SQLite's file change counter (header bytes 24-27): one more for every transaction
    that changed the file (rollback-journal mode, the default the runner keeps)."""
    path = Path(str(database.url.database))
    counter: int = struct.unpack(">I", path.read_bytes()[24:28])[0]
    return counter


def log_rows(database: Database) -> list[tuple[Any, ...]]:
    return database.scalar_rows(f"SELECT direction, revision FROM {LOG} ORDER BY id")


def test_an_upgrade_on_sqlite_is_one_commit(
    servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    """Steps, change-log rows and fingerprint in one commit: a crash can never leave a
    write committed without the fingerprint that ``drift --quick`` compares with (the
    fingerprint used to follow in a transaction, and an fsync, of its own)."""
    with servers.fresh("sqlite", tmp_path) as database:
        alpha(run, root, database)
        run.ok("upgrade", "alpha", "a1")
        before = commits_seen(database)
        run.ok("upgrade", "alpha")
        assert commits_seen(database) == before + 1
        rows = log_rows(database)
        assert rows[-2:] == [("upgrade", "a2"), ("fingerprint", "a2")]
        run.ok("upgrade", "alpha")  # nothing to do: no commit that changes anything
        assert commits_seen(database) == before + 1


@pytest.mark.parametrize("backend", TRANSACTIONAL)
def test_an_upgrade_runs_env_py_once(
    backend: str, servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    """The runner's env.py is run once per write on SQLite as on PostgreSQL: checks and
    migration in one pass (on SQLite there used to be a checks pass first). Whatever
    env.py does at import (read a secret, log a line) it does once."""
    with servers.fresh(backend, tmp_path) as database:
        alpha(run, root, database)
        runs = tmp_path / "env_runs.txt"
        env_py = root / "projects" / "alpha" / "env.py"
        env_py.write_text(
            f"{env_py.read_text()}\nwith Path({str(runs)!r}).open('a') as f:\n"
            "    f.write('run\\n')\n"
        )
        run.ok("upgrade", "alpha")
        assert runs.read_text().splitlines() == ["run"]
        assert [r for r in log_rows(database) if r[0] == "upgrade"] == [
            ("upgrade", "a1"),
            ("upgrade", "a2"),
        ]


@pytest.mark.parametrize("backend", TRANSACTIONAL)
def test_a_fingerprint_that_fails_undoes_only_its_own_row(
    backend: str,
    servers: ServerPool,
    tmp_path: Path,
    run: Runner,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A catalog query that fails inside the write's transaction (on PostgreSQL that aborts
    the transaction) is rolled back to its savepoint: the write still commits with its
    rows, a warning says the fingerprint is missing, the chain verifies, and
    ``drift --quick`` compares with a replica instead."""

    def failing(connection: Connection, scope: Scope | None = None) -> str:
        connection.exec_driver_sql("SELECT no_such_column FROM no_such_catalog")
        raise AssertionError("the statement above fails")  # pragma: no cover

    with servers.fresh(backend, tmp_path) as database:
        alpha(run, root, database)
        monkeypatch.setattr(fingerprint_module, "fingerprint", failing)
        outcome = run("upgrade", "alpha")
        assert outcome.code == 0, outcome.output
        assert "alpha: the schema fingerprint was not recorded" in outcome.err
        assert "no_such_catalog" in outcome.err
        assert [r for r in log_rows(database) if r[0] != "log-created"] == [
            ("upgrade", "a1"),
            ("upgrade", "a2"),
        ]
        assert "orders" in database.tables()
        run.ok("verify", "alpha")
        monkeypatch.undo()
        quick = json.loads(run.ok("drift", "alpha", "--quick", "--json").out)
        assert quick["projects"][0]["method"] != "fingerprint"
        run.ok("downgrade", "alpha", "a1")  # the next write records one
        assert log_rows(database)[-1] == ("fingerprint", "a1")


def test_a_stock_env_py_on_a_new_sqlite_file_is_not_locked_out(
    servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    """A stock env.py opens its own connection; the one pass stops at its configure(),
    before Alembic creates its version table there, which would wait on the write lock
    the runner holds (here for at most the 2 s lock timeout), and starts over in two
    passes."""
    with servers.fresh("sqlite", tmp_path) as database:
        alpha(run, root, database)
        env_py = root / "projects" / "alpha" / "env.py"
        # It mentions config.attributes, so the runner cannot rule out that it takes
        # the runner's connection, and tries one pass first.
        env_py.write_text(
            STOCK_ENV_PY.replace("connectable = ", "config.attributes.get('x')\nconnectable = ")
        )
        (root / "projects" / "alpha" / "alembic.ini").write_text(
            (root / "projects" / "alpha" / "alembic.ini").read_text()
            + f"\n[stock]\nurl = {database.url_string}\n"
        )
        outcome = run("upgrade", "alpha", "--lock-timeout", "2")
        assert outcome.code == 0, outcome.output
        assert "env.py opens its own connection" in outcome.err
        assert ("upgrade", "a2") in log_rows(database)
        assert {"orders"} <= database.tables()


# What `alembic init` writes, reduced to its online path, with its URL from our ini.
STOCK_ENV_PY = """
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
url = config.get_section("stock")["url"]
version_table = config.get_main_option("version_table") or "alembic_version_alpha"

connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=None,
                      version_table=version_table)
    with context.begin_transaction():
        context.run_migrations()
"""


@pytest.mark.parametrize(
    ("reads_attributes", "env_py_runs"),
    [
        (False, 2 * 3),  # alembic init's: it cannot take ours, two passes from the start
        (True, 1 + 2 * 3),  # might take ours: one try, on the first target only
    ],
)
def test_a_group_with_a_stock_env_py_tries_one_pass_at_most_once(
    reads_attributes: bool, env_py_runs: int, tmp_path: Path, run: Runner, root: Path
) -> None:
    """A stock env.py opens its own connection: the write needs two passes. One that never
    reads ``config.attributes`` gets them at once; otherwise once one target has shown
    that env.py connects by itself, the other targets of the run go to two passes at
    once. Before, each target tried one pass first: three runs of env.py per target."""
    load_scenario("two_projects", root)
    folder = root / "var" / "tenants"
    folder.mkdir(parents=True)
    for i in range(3):
        sqlite3.connect(folder / f"t{i}.sqlite").close()
    (root / "projects" / "alpha" / "targets.toml").write_text(
        'dialect = "sqlite"\n[group.tenants]\nsqlite_glob = "var/tenants/*.sqlite"\n'
    )
    runs = tmp_path / "env_runs.txt"
    ignored = "config.attributes.get('unused')\n" if reads_attributes else ""
    (root / "projects" / "alpha" / "env.py").write_text(
        f"with open({str(runs)!r}, 'a') as f:\n    f.write('run\\n')\n"
        + STOCK_ENV_PY.replace(
            'config.get_section("stock")["url"]', 'config.get_main_option("sqlalchemy.url")'
        ).replace("connectable = ", f"{ignored}connectable = ")
    )
    outcome = run("upgrade", "alpha", "--group", "tenants")
    assert outcome.code == 0, outcome.output
    assert len(runs.read_text().splitlines()) == env_py_runs
    for i in range(3):
        with sqlite3.connect(folder / f"t{i}.sqlite") as connection:
            found = connection.execute("SELECT version_num FROM alembic_version_alpha").fetchall()
            assert found == [("a2",)]
