"""The seed README's quickstart, through the real CLI, on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.databases import Database

SEED_UPGRADE = """def upgrade() -> None:
    op.execute("CREATE TABLE foo (field1 VARCHAR(50), field2 VARCHAR(50))")
    op.execute("INSERT INTO foo VALUES('hello','world')")"""
SEED_DOWNGRADE = """def downgrade() -> None:
    op.execute("DROP TABLE foo")"""


def write_seed_revision(path: Path) -> None:
    """Replace the generated upgrade()/downgrade() bodies with the seed's SQL."""
    text = path.read_text()
    text = text.replace("def upgrade() -> None:\n    pass", SEED_UPGRADE)
    text = text.replace("def downgrade() -> None:\n    pass", SEED_DOWNGRADE)
    assert "CREATE TABLE foo" in text
    assert "DROP TABLE foo" in text
    path.write_text(text)


def test_seed_quickstart(run: Runner, root: Path, db: Database) -> None:
    run.env["DEMO_DATABASE_URL"] = db.url_string
    run.ok("new", "demo")
    created = run.ok("revision", "demo", "-m", "my_cool_revision")
    [revision_file] = (root / "projects" / "demo" / "versions").glob("*my_cool_revision.py")
    assert revision_file.name in created.out
    write_seed_revision(revision_file)

    before = json.loads(run.ok("status", "demo", "--json").out)["projects"][0]
    assert before["current"] == []
    assert len(before["pending"]) == 1

    run.ok("upgrade", "demo")
    assert db.scalar_rows("SELECT field1, field2 FROM foo") == [("hello", "world")]
    after = json.loads(run.ok("status", "demo", "--json").out)["projects"][0]
    assert after["up_to_date"]
    assert after["current"] == after["heads"]
    assert after["version_table"] == "alembic_version_demo"

    run.ok("downgrade", "demo", "base")
    assert "foo" not in db.tables()
    assert json.loads(run.ok("status", "demo", "--json").out)["projects"][0]["current"] == []


def test_embedded_sqlite_default_is_created_and_announced(run: Runner, root: Path) -> None:
    run.ok("new", "demo")
    write_seed_revision(_new_revision(run, root, "demo"))
    database = root / "var" / "demo.sqlite"
    assert not database.exists()

    first = run.ok("upgrade", "demo")
    assert database.is_file()
    assert "creating embedded SQLite database" in first.err
    second = run.ok("status", "demo")
    assert "creating embedded SQLite" not in second.err
    assert "embedded default" in second.out
    assert "up to date" in second.out


def test_status_of_missing_embedded_database_creates_nothing(run: Runner, root: Path) -> None:
    run.ok("new", "demo")
    _new_revision(run, root, "demo")
    status = json.loads(run.ok("status", "demo", "--json").out)["projects"][0]
    assert status["current"] == []
    assert len(status["pending"]) == 1
    assert not (root / "var" / "demo.sqlite").exists()


@pytest.mark.parametrize("direction", ["upgrade", "downgrade"])
def test_sql_revision_runs_paired_files(
    run: Runner, root: Path, db: Database, direction: str
) -> None:
    run.env["DEMO_DATABASE_URL"] = db.url_string
    run.ok("new", "demo")
    created = run.ok("revision", "demo", "-m", "dba writes sql", "--sql")
    versions = root / "projects" / "demo" / "versions"
    [up] = versions.glob("*.upgrade.sql")
    [down] = versions.glob("*.downgrade.sql")
    assert up.name in created.out
    assert down.name in created.out
    up.write_text(
        "-- two statements, one with a semicolon inside a string\n"
        "CREATE TABLE note (id INTEGER PRIMARY KEY, body VARCHAR(50));\n"
        "INSERT INTO note (id, body) VALUES (1, 'a;b');\n"
    )
    down.write_text("DROP TABLE note;\n")

    plan = run.ok("plan", "demo").out
    assert "CREATE TABLE note" in plan
    assert "'a;b'" in plan
    run.ok("upgrade", "demo")
    assert db.scalar_rows("SELECT id, body FROM note") == [(1, "a;b")]
    if direction == "downgrade":
        run.ok("downgrade", "demo", "-1")
        assert "note" not in db.tables()


def _new_revision(run: Runner, root: Path, project: str) -> Path:
    run.ok("revision", project, "-m", "first")
    [path] = (root / "projects" / project / "versions").glob("*first.py")
    return path
