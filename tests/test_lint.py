"""``runner lint``: history and SQL checks on scenario projects, offline.

Every test points the project at a URL nothing listens on (port 1), or at a
SQLite file in a folder that does not exist: lint must never connect.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from runner.lint.markers import acceptances, read_markers
from runner.lint.rules import RULES
from tests.conftest import Outcome, Runner, load_scenario
from tests.databases import Database

# URLs of each backend where nothing answers: lint renders offline, so they must do.
UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent/lint-must-not-create/x.sqlite",
    "postgresql": "postgresql://nobody@127.0.0.1:1/nothing",
    "mysql": "mysql://nobody@127.0.0.1:1/nothing",
}

# What the risky scenario must report on every dialect: (revision, rule).
RISKY_EVERYWHERE = {
    ("lr02", "drop-column"),
    ("lr03", "drop-table"),
    ("lr04", "update-without-where"),
    ("lr05", "add-not-null-column"),
    ("lr06", "rename-table"),
    ("lr07", "rename-column"),
    ("lr09", "column-type-change"),
    ("lr10", "delete-without-where"),
    ("lr10", "truncate"),
    ("lr10", "drop-schema"),
    ("lr11", "unparsed-sql"),
    ("lr11", "no-downgrade"),
}
# PostgreSQL also flags the index built on an existing table (lr08), but not
# the one built on a table created in the same revision (lr01).
RISKY_BY_DIALECT = {
    "sqlite": RISKY_EVERYWHERE,
    "postgresql": RISKY_EVERYWHERE | {("lr08", "blocking-index")},
    "mysql": RISKY_EVERYWHERE,
}


def lint_json(run: Runner, *args: str) -> tuple[Outcome, dict[str, dict[str, Any]]]:
    """Run ``lint --json``; the outcome and the results keyed by project."""
    outcome = run("lint", *args, "--json")
    document = json.loads(outcome.out)
    assert document["schema_version"] == 1
    assert document["command"] == "lint"
    return outcome, {p["project"]: p for p in document["projects"]}


# The scenarios were written for these rules; the locking, type and MySQL rules
# have their own cases in tests/lint_cases/ (and would fire here too: no timeouts).
SCENARIO_RULES = {rule for _, rule in RISKY_BY_DIALECT["postgresql"]} | {
    "multiple-heads", "unknown-down-revision", "render-failed", "duplicate-revision",
    "bad-marker", "unused-accept", "drop-column", "column-type-change", "no-downgrade",
}  # fmt: skip


def pairs(result: dict[str, Any], *, accepted: bool | None = None) -> set[tuple[str | None, str]]:
    """``(revision, rule)`` of a project's findings of the scenario rules (optionally only
    (un)accepted ones)."""
    return {
        (f["revision"], f["rule"])
        for f in result["findings"]
        if (accepted is None or f["accepted"] is accepted) and f["rule"] in SCENARIO_RULES
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_risky_revisions_are_flagged_per_dialect(run: Runner, root: Path, backend: str) -> None:
    load_scenario("lint_risky", root)
    outcome, results = lint_json(run, "risky", "--url", UNREACHABLE[backend])

    assert outcome.code == 1, outcome.output
    assert "error: lint:" in outcome.err
    assert "cannot connect" not in outcome.err
    risky = results["risky"]
    assert risky["dialect"] == backend
    assert [r["revision"] for r in risky["revisions"]] == [f"lr{i:02d}" for i in range(1, 12)]
    assert risky["revisions"][1]["down_revisions"] == ["lr01"]
    assert pairs(risky) == RISKY_BY_DIALECT[backend]
    assert not risky["ok"]
    errors = [f for f in risky["findings"] if f["severity"] == "error" and not f["accepted"]]
    assert risky["errors"] == len(errors) == 9
    # Every finding names its rule's severity, its file and (for SQL) the statement.
    for item in risky["findings"]:
        assert item["severity"] == RULES[item["rule"]].severity_for(backend, None)
        assert item["path"].startswith("versions/lr")
    drop = next(f for f in risky["findings"] if f["rule"] == "drop-table")
    assert drop["statement"] == "DROP TABLE legacy"
    # lr11 is irreversible on purpose: accepted, with the marker's reason.
    no_down = next(f for f in risky["findings"] if f["rule"] == "no-downgrade")
    assert no_down["accepted"]
    assert "physical row order" in no_down["reason"]
    assert not Path("/nonexistent/lint-must-not-create").exists()


def test_text_output_is_one_line_per_finding(run: Runner, root: Path) -> None:
    load_scenario("lint_risky", root)
    outcome = run("lint", "risky", "--url", UNREACHABLE["postgresql"])

    assert outcome.code == 1
    lines = outcome.out.splitlines()
    assert "risky lr03 error drop-table DROP TABLE legacy loses its data" in lines
    assert any(line.startswith("risky lr08 warning blocking-index ") for line in lines)
    assert any(
        line.startswith("risky lr11 error no-downgrade ") and "[accepted: CLUSTER" in line
        for line in lines
    )
    assert lines[-1].startswith("risky: lint FAILED (postgresql, 11 revision(s)): 9 error(s)")


def test_dialect_option_overrides_the_url(run: Runner, root: Path) -> None:
    load_scenario("lint_risky", root)
    _, results = lint_json(run, "risky", "--url", UNREACHABLE["sqlite"], "--dialect", "postgresql")
    assert results["risky"]["dialect"] == "postgresql"
    assert ("lr08", "blocking-index") in pairs(results["risky"])


def test_clean_project_passes_with_acceptances(run: Runner, root: Path, tmp_path: Path) -> None:
    load_scenario("lint_clean", root)
    report = tmp_path / "reports" / "lint.xml"
    outcome, results = lint_json(
        run, "shop", "--url", UNREACHABLE["postgresql"], "--junit", str(report)
    )

    assert outcome.code == 0, outcome.output
    shop = results["shop"]
    assert shop["ok"]
    assert shop["errors"] == 0
    # Accepted findings stay visible, each with the reason from its marker.
    reasons = {f["rule"]: f["reason"] for f in shop["findings"] if f["accepted"]}
    assert reasons == {
        "blocking-index": "customers holds a few thousand rows, the lock lasts a second",
        "drop-column": "nickname unused since app v2.3, confirmed with the app team",
        "no-downgrade": "which rows had no status is not recorded, so there is nothing to restore",
        "update-without-where": "every existing customer gets the launch tier on purpose",
    }
    assert pairs(shop, accepted=False) == set()

    suites = ET.parse(report).getroot()
    assert suites.tag == "testsuites"
    assert suites.get("failures") == "0"
    (suite,) = suites.findall("testsuite")
    assert suite.get("name") == "shop"
    assert [c.get("name") for c in suite.findall("testcase")] == [
        "history",
        "ls1",
        "ls2",
        "ls3",
        "ls4",
        "ls5",
    ]
    assert suite.findall("testcase/failure") == []
    ls3 = suite.find("testcase[@name='ls3']/system-out")
    assert ls3 is not None
    assert "accepted: nickname unused" in (ls3.text or "")


@pytest.mark.parametrize(
    ("project", "expected"),
    [
        pytest.param(
            "nodown",
            {("hn1", "no-downgrade"), ("hn2", "no-downgrade"), ("hn3", "no-downgrade")},
            id="missing-downgrade",
        ),
        pytest.param("forked", {(None, "multiple-heads")}, id="two-heads"),
        pytest.param(
            "dangling",
            {("hd2", "unknown-down-revision"), (None, "render-failed")},
            id="unknown-down-revision",
        ),
        # The runner refuses to load a history with a duplicated id, so no SQL is checked.
        pytest.param(
            "twins",
            {("ht2", "duplicate-revision"), (None, "render-failed")},
            id="duplicate-revision",
        ),
        pytest.param(
            "marked",
            {("hm2", "drop-column"), ("hm2", "bad-marker"), ("hm3", "unused-accept")},
            id="bad-markers",
        ),
    ],
)
def test_history_problems_fail(
    run: Runner, root: Path, project: str, expected: set[tuple[str | None, str]]
) -> None:
    load_scenario("lint_history", root)
    outcome, results = lint_json(run, project, "--url", UNREACHABLE["mysql"])

    assert outcome.code == 1, outcome.output
    assert "internal error" not in outcome.err
    assert pairs(results[project]) == expected
    assert results[project]["errors"] > 0


def test_findings_name_the_file_and_the_problem(run: Runner, root: Path) -> None:
    load_scenario("lint_history", root)
    _, results = lint_json(run, "--all", "--url", UNREACHABLE["sqlite"])

    twins = {
        f["path"]: f["message"]
        for f in results["twins"]["findings"]
        if f["rule"] == "duplicate-revision"
    }
    assert twins == {
        "versions/ht2_first.py": "revision id ht2 of versions/ht2_first.py is also used by"
        " versions/ht2_second.py",
        "versions/ht2_second.py": "revision id ht2 of versions/ht2_second.py is also used by"
        " versions/ht2_first.py",
    }
    dangling = results["dangling"]["findings"]
    assert "down_revision hd0_gone of hd2 does not exist" in [f["message"] for f in dangling]
    forked = results["forked"]["findings"][0]["message"]
    assert forked.startswith("2 heads (hf2a, hf2b)")
    markers = sorted(
        f["message"] for f in results["marked"]["findings"] if f["rule"] == "bad-marker"
    )
    assert markers == [
        "versions/hm2_markers.py:13: lint marker for drop-column has no reason:"
        " add ': <why this is safe>'",
        "versions/hm2_markers.py:14: lint marker names unknown rule 'drop-colum';"
        " did you mean 'drop-column'?",
        "versions/hm2_markers.py:15: unknown lint marker 'shrug': use"
        " 'lint: accept <rule>: <reason>' or 'lint: irreversible: <reason>'",
    ]
    # An invalid marker accepts nothing.
    drop = next(f for f in results["marked"]["findings"] if f["rule"] == "drop-column")
    assert not drop["accepted"]
    no_down = {f["message"] for f in results["nodown"]["findings"]}
    assert any(m.startswith("hn2_prices.downgrade.sql holds no statement") for m in no_down)
    assert any(m.startswith("downgrade() only raises") for m in no_down)


def test_declared_branches_pass(run: Runner, root: Path) -> None:
    load_scenario("lint_history", root)
    ini = root / "projects" / "forked" / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("[alembic]\n", "[alembic]\nlint_allow_branches = true\n", 1)
    )
    outcome, results = lint_json(run, "forked", "--url", UNREACHABLE["postgresql"])
    assert outcome.code == 0, outcome.output
    assert pairs(results["forked"]) == set()
    assert sorted(r["revision"] for r in results["forked"]["revisions"]) == ["hf1", "hf2a", "hf2b"]


def test_junit_has_a_failure_per_unaccepted_error(run: Runner, root: Path) -> None:
    load_scenario("lint_history", root)
    report = root / "lint.xml"
    outcome = run("lint", "--all", "--url", UNREACHABLE["sqlite"], "--junit", str(report))
    assert outcome.code == 1

    suites = {s.get("name"): s for s in ET.parse(report).getroot().findall("testsuite")}
    assert set(suites) == {"dangling", "forked", "marked", "nodown", "twins"}

    def failures(suite: str) -> dict[str, list[str]]:
        return {
            str(case.get("name")): [str(f.get("type")) for f in case.findall("failure")]
            for case in suites[suite].findall("testcase")
        }

    assert failures("nodown") == {
        "history": [],
        "hn1": ["no-downgrade"],
        "hn2": ["no-downgrade"],
        "hn3": ["no-downgrade"],
    }
    assert suites["nodown"].get("tests") == "4"
    assert suites["nodown"].get("failures") == "3"
    assert failures("forked")["history"] == ["multiple-heads"]
    assert failures("marked")["hm2"] == ["drop-column", "bad-marker", "bad-marker", "bad-marker"]
    # Info findings are notes, not failures.
    assert failures("marked")["hm3"] == []
    hm3_out = suites["marked"].find("testcase[@name='hm3']/system-out")
    assert hm3_out is not None
    assert "unused-accept" in (hm3_out.text or "")
    assert failures("twins")["ht2"] == ["duplicate-revision", "duplicate-revision"]


def test_unrenderable_revision_is_a_warning_and_the_rest_is_checked(
    run: Runner, root: Path
) -> None:
    load_scenario("batch", root)
    # SQLite batch mode cannot be rendered offline; lint runs the history on a
    # throw-away SQLite database instead, and sees what the table copy drops.
    outcome, results = lint_json(run, "batchy", "--url", UNREACHABLE["sqlite"])
    assert outcome.code == 1, outcome.output
    assert pairs(results["batchy"]) == {("c2", "drop-column"), ("c2", "column-type-change")}
    [drop] = [f for f in results["batchy"]["findings"] if f["rule"] == "drop-column"]
    assert "people.nickname" in drop["message"]
    # For PostgreSQL the same revision renders, and its DROP COLUMN shows.
    outcome, results = lint_json(run, "batchy", "--dialect", "postgresql")
    assert outcome.code == 1
    assert pairs(results["batchy"]) == {("c2", "drop-column"), ("c2", "column-type-change")}


def test_lint_ignores_the_database_state(run: Runner, root: Path, db: Database) -> None:
    load_scenario("lint_clean", root)
    run.ok("upgrade", "shop", "--url", db.url_string)
    # The whole history is checked, whatever the database has already applied.
    _, on_db = lint_json(run, "shop", "--url", db.url_string)
    _, offline = lint_json(run, "shop", "--url", UNREACHABLE[db.backend])
    assert on_db["shop"]["findings"] == offline["shop"]["findings"]
    assert len(on_db["shop"]["revisions"]) == 5


def test_lint_needs_a_project(run: Runner, root: Path) -> None:
    load_scenario("lint_clean", root)
    assert run("lint").code == 2
    outcome = run("lint", "shopp")
    assert outcome.code == 2
    assert "did you mean 'shop'" in outcome.err


def test_acceptances_for_other_commands() -> None:
    versions = Path(__file__).parent / "scenarios" / "lint_clean" / "projects" / "shop" / "versions"
    drop = acceptances(versions / "ls3_drop_nickname.py")
    assert set(drop) == {"drop-column"}
    assert drop["drop-column"].reason.startswith("nickname unused since app v2.3")
    # Markers in a SQL revision's .upgrade.sql count for that revision.
    sql = acceptances(versions / "ls5_coupons.py")
    assert set(sql) == {"update-without-where"}
    assert sql["update-without-where"].path.name == "ls5_coupons.upgrade.sql"
    assert set(acceptances(versions / "ls4_fix_status.py")) == {"no-downgrade"}
    assert acceptances(versions / "ls1_customers.py") == {}
    assert all(m.valid for m in read_markers(versions / "ls3_drop_nickname.py"))
