"""``runner test``: round trips on throw-away databases, through the real CLI.

Scenarios (tests/scenarios/roundtrip_*) hold real revisions: a clean history,
downgrades that leave a table, a column or an index behind, a downgrade that
raises, an upgrade that fails and one that cannot run twice. The JUnit XML and
JSON outputs are parsed, not just produced.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from runner.db import scratch
from runner.roundtrip import schema
from tests.conftest import BACKENDS, Runner, load_scenario
from tests.databases import ServerPool


@pytest.fixture(params=BACKENDS)
def backend_args(request: pytest.FixtureRequest, servers: ServerPool) -> list[str]:
    """``--db`` (and ``--server-url`` for servers) for each backend in turn."""
    backend: str = request.param
    if backend == "sqlite":
        return ["--db", "sqlite"]
    admin = servers.admin_url(backend).render_as_string(hide_password=False)
    return ["--db", backend, "--server-url", admin]


def run_test(run: Runner, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], ET.Element]:
    """Run ``runner test ARGS --json --junit FILE``: exit code, JSON by project, JUnit root."""
    junit_file = tmp_path / "out" / "junit.xml"
    outcome = run("test", *args, "--json", "--junit", str(junit_file))
    document = json.loads(outcome.out)
    assert document["command"] == "test"
    assert document["schema_version"] == 1
    by_project = {p["project"]: p for p in document["projects"]}
    return outcome.code, by_project, ET.parse(junit_file).getroot()


def suite(root: ET.Element, project: str) -> ET.Element:
    found = [s for s in root.iter("testsuite") if s.get("name", "").startswith(f"{project} (")]
    assert len(found) == 1, [s.get("name") for s in root.iter("testsuite")]
    return found[0]


def failing_case(root: ET.Element, project: str) -> tuple[str, ET.Element]:
    """The one failed testcase of ``project``'s suite: its name and ``<failure>``."""
    failed = [
        (case.get("name", ""), failure)
        for case in suite(root, project).iter("testcase")
        if (failure := case.find("failure")) is not None
    ]
    assert len(failed) == 1, failed
    return failed[0]


def assert_dropped(url: str) -> None:
    """The throw-away database named in the JSON no longer exists."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        assert not Path(parsed.database).exists()
        return
    name = parsed.database
    assert name is not None
    assert name.startswith("dalembic_rt_")


def test_clean_history_passes(
    run: Runner, root: Path, tmp_path: Path, backend_args: list[str]
) -> None:
    load_scenario("roundtrip_clean", root)
    code, projects, junit = run_test(run, tmp_path, "shop", *backend_args)
    assert code == 0
    shop = projects["shop"]
    assert shop["passed"] is True
    assert [c["revision"] for c in shop["cases"]] == ["s1", "s2", "s3", "s4", "s5"]
    assert {c["status"] for c in shop["cases"]} == {"passed"}
    assert junit.get("tests") == "5"
    assert junit.get("failures") == "0"
    cases = suite(junit, "shop").findall("testcase")
    assert [c.get("name", "").split(" ", 3)[2] for c in cases] == ["s1", "s2", "s3", "s4", "s5"]
    assert_dropped(shop["url"])


_LIST_DATABASES = {
    "postgresql": "SELECT datname FROM pg_database",
    "mysql": "SELECT schema_name FROM information_schema.schemata",
}


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def test_throw_away_database_is_dropped(
    run: Runner, root: Path, tmp_path: Path, servers: ServerPool, backend: str
) -> None:
    """On a server, the fresh database is gone afterwards, even when the round trip failed."""
    admin = servers.admin_url(backend)
    load_scenario("roundtrip_leftovers", root)
    server_url = admin.render_as_string(hide_password=False)
    code, projects, _ = run_test(
        run, tmp_path, "leaves_table", "--db", backend, "--server-url", server_url
    )
    assert code == 1
    name = make_url(projects["leaves_table"]["url"]).database
    engine = sa.create_engine(admin, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            names = {row[0] for row in connection.exec_driver_sql(_LIST_DATABASES[backend])}
    finally:
        engine.dispose()
    assert name not in names


@pytest.mark.parametrize(
    ("project", "named"),
    [
        ("leaves_table", "table audit_archive added"),
        ("leaves_column", "table people: column nickname added"),
        ("leaves_index", "table people: index ix_people_name added"),
    ],
)
def test_downgrade_leaving_a_trace_fails_after_downgrade(
    run: Runner, root: Path, tmp_path: Path, backend_args: list[str], project: str, named: str
) -> None:
    load_scenario("roundtrip_leftovers", root)
    code, projects, junit = run_test(run, tmp_path, project, *backend_args)
    assert code == 1

    name, failure = failing_case(junit, project)
    assert name.startswith("p1 -> p2 ")
    assert failure.get("type") == "schema-after-downgrade"
    assert named in failure.get("message", "")
    assert named in (failure.text or "")
    skipped = [c for c in suite(junit, project).iter("testcase") if c.find("skipped") is not None]
    assert [c.get("name", "").split(" ")[2] for c in skipped] == ["p3"]

    cases = {c["revision"]: c for c in projects[project]["cases"]}
    assert cases["p1"]["status"] == "passed"
    assert cases["p2"]["status"] == "failed"
    assert cases["p2"]["step"] == "schema-after-downgrade"
    assert any(line.startswith(named) for line in cases["p2"]["diff"])
    # Nothing else is reported as left behind or lost.
    assert all("removed" not in line and "changed" not in line for line in cases["p2"]["diff"])
    assert cases["p3"]["status"] == "skipped"


@pytest.mark.parametrize(
    ("project", "step", "revision", "says"),
    [
        ("downgrade_raises", "downgrade", "d2", "tag"),
        ("upgrade_fails", "upgrade", "u2", "missing"),
        ("not_repeatable", "re-upgrade", "n2", "theme"),
    ],
)
def test_failing_step_is_named(
    run: Runner,
    root: Path,
    tmp_path: Path,
    backend_args: list[str],
    project: str,
    step: str,
    revision: str,
    says: str,
) -> None:
    load_scenario("roundtrip_broken", root)
    code, projects, junit = run_test(run, tmp_path, project, *backend_args)
    assert code == 1
    name, failure = failing_case(junit, project)
    assert f"-> {revision} " in name
    assert failure.get("type") == step
    message = failure.get("message", "")
    assert message.startswith(f"{step}: failed in ")
    assert says in message
    case = next(c for c in projects[project]["cases"] if c["revision"] == revision)
    assert (case["status"], case["step"]) == ("failed", step)


def test_all_projects_text_output(run: Runner, root: Path) -> None:
    """Text: a verdict per project, then one line per revision; exit 1 names the failures."""
    load_scenario("roundtrip_broken", root)
    outcome = run("test", "--all")
    assert outcome.code == 1
    lines = outcome.out.splitlines()
    assert "downgrade_raises: round trip on sqlite, 2 revision(s): FAILED" in lines[0]
    assert lines[1].split() == ["ok", "base", "->", "d1", "create", "items"]
    assert lines[2].split()[:4] == ["FAILED", "d1", "->", "d2"]
    assert lines[3].strip().startswith("at downgrade: failed in downgrade d2 -> d1")
    assert (
        "error: round trip failed for downgrade_raises, not_repeatable, upgrade_fails"
        in outcome.err
    )


def test_branches_walk_parents_first(run: Runner, root: Path, tmp_path: Path) -> None:
    """Each branch revision is reverted alone (siblings stay applied); the merge comes last."""
    load_scenario("branches", root)
    code, projects, _ = run_test(run, tmp_path, "tree")
    assert code == 0
    order = [c["revision"] for c in projects["tree"]["cases"]]
    assert order[0] == "r1"
    assert order[-1] == "r3"
    assert set(order[1:3]) == {"r2a", "r2b"}


def test_no_server_is_a_usage_error(
    run: Runner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_scenario("roundtrip_clean", root)
    monkeypatch.delenv("RUNNER_TEST_POSTGRES_URL", raising=False)
    monkeypatch.setattr(scratch, "docker_answers", lambda: False)
    outcome = run("test", "shop", "--db", "postgresql")
    assert outcome.code == 2
    assert "RUNNER_TEST_POSTGRES_URL" in outcome.err
    assert "--server-url" in outcome.err


def test_name_or_all_is_required(run: Runner, root: Path) -> None:
    load_scenario("roundtrip_clean", root)
    assert run("test").code == 2
    assert run("test", "shop", "--all").code == 2


def test_diff_names_each_difference() -> None:
    before = {
        "table people": {"column id": "INTEGER NOT NULL", "index ix_name": "(name)"},
        "table gone": {"column id": "INTEGER NOT NULL"},
    }
    after = {
        "table people": {"column id": "BIGINT NOT NULL", "column nick": "VARCHAR(20) NULL"},
        "table extra": {"column id": "INTEGER NOT NULL"},
        "sequence extra_id_seq": {},
    }
    assert schema.diff(before, after) == [
        "table extra added (column id)",
        "sequence extra_id_seq added",
        "table gone removed",
        "table people: column nick added: VARCHAR(20) NULL",
        "table people: index ix_name removed: (name)",
        "table people: column id changed: INTEGER NOT NULL -> BIGINT NOT NULL",
    ]
    assert schema.diff(before, before) == []


def test_sqlite_rebuilt_table_with_new_text_passes(run: Runner, root: Path, tmp_path: Path) -> None:
    """A table rebuilt by batch mode has new CREATE text for the same definition.

    SQLite snapshots compare statements first; statements that differ only in
    spelling (``int`` against ``INTEGER``, layout, quotes) must be reflected and
    found equal, not reported.
    """
    load_scenario("roundtrip_sqlite", root)
    code, projects, _ = run_test(run, tmp_path, "retyped_same", "--db", "sqlite")
    assert code == 0, projects["retyped_same"]["cases"]
    assert [c["status"] for c in projects["retyped_same"]["cases"]] == ["passed", "passed"]


@pytest.mark.parametrize(
    ("project", "named"),
    [
        ("leaves_trigger", "table people: trigger trim_name added"),
        ("wrong_default", "table people: column name changed: VARCHAR(50) NOT NULL ->"
         " VARCHAR(50) NOT NULL DEFAULT 'nobody'"),
    ],
)  # fmt: skip
def test_sqlite_differences_are_reflected_exactly(
    run: Runner, root: Path, tmp_path: Path, project: str, named: str
) -> None:
    """What a downgrade leaves behind is named from the SQLite catalog: triggers too,
    and a changed default, reflected from statements of a state that is gone."""
    load_scenario("roundtrip_sqlite", root)
    code, projects, junit = run_test(run, tmp_path, project, "--db", "sqlite")
    assert code == 1
    _, failure = failing_case(junit, project)
    assert failure.get("type") == "schema-after-downgrade"
    case = next(c for c in projects[project]["cases"] if c["revision"] == "q2")
    assert len(case["diff"]) == 1
    assert case["diff"][0].startswith(named)
