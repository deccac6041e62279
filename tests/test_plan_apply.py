"""Saved plans: markdown for reviewers, and `apply` runs exactly what was reviewed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from runner.run import changelog
from tests.conftest import Runner, failing_revision, load_scenario
from tests.databases import Database
from tests.reliability.catalogue import case

RISKY = '''"""drop the third table"""

from alembic import op

revision = "s4"
down_revision = "s3"
branch_labels = None
depends_on = None

# lint: accept drop-table: third was never read by any application, confirmed by the owners


def upgrade() -> None:
    op.drop_table("third")


def downgrade() -> None:
    import sqlalchemy as sa

    op.create_table("third", sa.Column("id", sa.Integer, primary_key=True))
'''


@pytest.fixture
def slow(run: Runner, root: Path, db: Database) -> Database:
    load_scenario("slow", root)
    run.env["SLOWPOKE_DATABASE_URL"] = db.url_string
    return db


def versions(root: Path) -> Path:
    return root / "projects" / "slowpoke" / "versions"


def save_plan(run: Runner, root: Path) -> tuple[Path, dict[str, Any]]:
    path = root / "plan.json"
    run.ok("plan", "slowpoke", "--out", str(path))
    document: dict[str, Any] = json.loads(path.read_text())
    return path, document["targets"][0]


def test_markdown_plan_for_a_merge_request(run: Runner, root: Path, slow: Database) -> None:
    run.ok("upgrade", "slowpoke", "s2")
    (versions(root) / "s4_drop.py").write_text(RISKY)
    markdown = run.ok("plan", "slowpoke", "--format", "markdown").out

    assert re.search(r"^### `slowpoke` on `.+` \((sqlite|postgresql|mysql)\)$", markdown, re.M)
    assert "From `s2` to `s4`: 2 revision(s)" in markdown
    rows = re.findall(r"^\| `(s\d)` \| `([^`]+)` \| ([^|]+) \|$", markdown, re.M)
    assert [(rev, down) for rev, down, _ in rows] == [("s3", "s2"), ("s4", "s3")]
    [drop] = [line for line in markdown.splitlines() if "`drop-table`" in line]
    assert "`s4`" in drop
    assert "never read by any application" in drop  # the acceptance and its reason
    sql = markdown.split("```sql", 1)[1].split("```", 1)[0]
    assert "DROP TABLE third" in sql
    assert "CREATE TABLE third" in sql  # s3 is pending too
    assert "CREATE TABLE first" not in sql  # s1 is applied already


def test_apply_runs_the_plan_and_records_its_digest(
    run: Runner, root: Path, slow: Database
) -> None:
    path, target = save_plan(run, root)
    assert target["start"] == []
    assert list(target["checksums"]) == ["s1", "s2", "s3"]
    applied = json.loads(run.ok("apply", str(path), "--json").out)["projects"][0]
    assert applied["after"] == ["s3"]
    with slow.connect() as connection:
        digests = connection.exec_driver_sql(
            f"SELECT DISTINCT plan_digest FROM {changelog.table_name('slowpoke')}"
            " WHERE direction <> 'log-created'"
        ).all()
    assert digests == [(target["digest"],)]
    assert target["digest"][:12] in run.ok("log", "slowpoke").out


@case(
    "plans",
    "a saved plan applied after a new revision arrived",
    exit_code="4",
    message=(
        "<project>: the repository now ends at ..., the plan at ...: new revisions since the plan; "
        "make a new plan"
    ),
    database="untouched",
    log="untouched",
)
def test_apply_refuses_when_a_new_revision_arrived(run: Runner, root: Path, slow: Database) -> None:
    path, _ = save_plan(run, root)
    (versions(root) / "s4_drop.py").write_text(RISKY)
    refused = run("apply", str(path))
    assert refused.code == 4
    assert "new revisions since the plan" in refused.err
    assert "s4" in refused.err
    assert "alembic_version_slowpoke" not in slow.tables()


@case(
    "plans",
    "a saved plan applied after the database moved (stale)",
    exit_code="4",
    message="<project>: the database moved since the plan: ...; make a new plan",
    database="untouched",
    log="untouched",
)
def test_apply_refuses_when_the_database_moved(run: Runner, root: Path, slow: Database) -> None:
    path, _ = save_plan(run, root)
    run.ok("upgrade", "slowpoke", "s1")  # someone else deployed in between
    refused = run("apply", str(path))
    assert refused.code == 4
    assert "database moved" in refused.err
    assert "at s1" in refused.err
    assert [r[0] for r in slow.scalar_rows("SELECT version_num FROM alembic_version_slowpoke")] == [
        "s1"
    ]


@case(
    "plans",
    "a saved plan applied after a planned revision was edited",
    exit_code="4",
    message="<project>: revision s2 (...) changed since the plan was made; make a new plan",
    database="untouched",
    log="untouched",
)
def test_apply_refuses_an_edited_revision(run: Runner, root: Path, slow: Database) -> None:
    path, _ = save_plan(run, root)
    target = versions(root) / "s2_slow.py"
    target.write_text(target.read_text() + "\n# changed after review\n")
    refused = run("apply", str(path))
    assert refused.code == 4
    assert "s2" in refused.err
    assert "s2_slow.py" in refused.err


@case(
    "plans",
    "a plan file edited by hand (forged)",
    exit_code="2",
    message="plan file ... was edited after it was made ...: make the plan again",
    database="untouched",
    log="untouched",
)
def test_a_tampered_plan_file_is_rejected(run: Runner, root: Path, slow: Database) -> None:
    path, _ = save_plan(run, root)
    document = json.loads(path.read_text())
    document["targets"][0]["start"] = ["s1"]
    path.write_text(json.dumps(document))
    refused = run("apply", str(path))
    assert refused.code == 2
    assert "edited after it was made" in refused.err


@pytest.mark.postgresql
def test_plan_file_holds_no_password(run: Runner, root: Path, servers: Any, tmp_path: Path) -> None:
    load_scenario("slow", root)
    with servers.fresh("postgresql", tmp_path) as db:
        # A container's server has a password of its own; the machine's PostgreSQL
        # trusts local connections, so any password works there.
        url = db.url if db.url.password else db.url.set(password="pw-in-the-plan")
        run.env["SLOWPOKE_DATABASE_URL"] = url.render_as_string(hide_password=False)
        path, target = save_plan(run, root)
        assert str(url.password) not in path.read_text()
        assert "***" in target["url"]
        run.ok("apply", str(path))


def test_sqlite_plan_shows_batch_sql_without_touching_the_database(run: Runner, root: Path) -> None:
    load_scenario("batch", root)
    run.ok("upgrade", "batchy", "c1")
    database = root / "var" / "batchy.sqlite"
    before = database.read_bytes()
    plan = run.ok("plan", "batchy").out
    # Offline mode cannot render batch operations; the plan ran them on a copy.
    assert "-- Running upgrade c1 -> c2" in plan
    assert "CREATE TABLE _alembic_tmp_people" in plan
    assert "INSERT INTO _alembic_tmp_people" in plan
    assert "nickname" not in plan.split("CREATE TABLE _alembic_tmp_people", 1)[1].split(";")[0]
    assert database.read_bytes() == before


def test_sqlite_plan_reports_an_upgrade_that_would_fail(run: Runner, root: Path) -> None:
    load_scenario("slow", root)
    run.ok("upgrade", "slowpoke")
    (versions(root) / "s4_fails.py").write_text(failing_revision("s4", "s3"))
    outcome = run("plan", "slowpoke")
    assert outcome.code == 1
    assert "throw-away copy" in outcome.err
    assert "no_such_table" in outcome.err
    status = json.loads(run.ok("status", "slowpoke", "--json").out)["projects"][0]
    assert status["current"] == ["s3"]


def _findings(document: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    found = document["projects"][0].get("findings", [])
    return sorted((f["rule"], f["revision"], f.get("statement") or "") for f in found)


@pytest.mark.parametrize(
    ("db", "scenario", "project"),
    [
        # SQLite: the plan's SQL comes from a run on a throw-away database (batch mode).
        ("sqlite", "batch", "batchy"),
        # PostgreSQL and MariaDB: from Alembic's offline rendering.
        ("postgresql", "lint_risky", "risky"),
        ("mysql", "batch", "batchy"),
    ],
    indirect=["db"],
)
def test_a_plan_from_empty_reports_what_lint_reports(
    run: Runner, root: Path, db: Database, scenario: str, project: str
) -> None:
    """From an empty database the plan hands its own SQL to lint instead of rendering the
    history again: the findings must be exactly those lint finds rendering it itself."""
    load_scenario(scenario, root)
    run.env[f"{project.upper()}_DATABASE_URL"] = db.url_string
    planned = json.loads(run("plan", project, "--json").out)
    linted = json.loads(run("lint", project, "--json").out)
    assert _findings(planned), "the scenario must have findings to compare"
    assert _findings(planned) == _findings(linted)
