"""``runner lint --format codeclimate|sarif``: reports that review tools load.

Each test lints a scenario project offline (the URL points where nothing
listens) and reads the report the CLI prints, as GitLab or GitHub would.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema

from runner.lint.rules import RULES
from tests.conftest import Runner, load_scenario

NOWHERE = "postgresql://nobody@127.0.0.1:1/nothing"
GITLAB_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


def codeclimate(run: Runner, *args: str) -> tuple[int, list[dict[str, Any]]]:
    outcome = run("lint", *args, "--format", "codeclimate")
    issues = json.loads(outcome.out)
    assert isinstance(issues, list), outcome.out
    return outcome.code, issues


def source_line(root: Path, issue: dict[str, Any]) -> str:
    """The line of the repository file an issue points at."""
    lines = (root / issue["location"]["path"]).read_text(encoding="utf-8").splitlines()
    return str(lines[issue["location"]["lines"]["begin"] - 1])


def test_codeclimate_report_points_at_the_change(run: Runner, root: Path) -> None:
    load_scenario("lint_risky", root)
    code, issues = codeclimate(run, "risky", "--url", NOWHERE)

    assert code == 1  # the same exit code as the text report: unaccepted errors
    assert code == run("lint", "risky", "--url", NOWHERE).code
    for issue in issues:
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["check_name"] in RULES
        assert issue["severity"] in GITLAB_SEVERITIES
        assert issue["location"]["path"].startswith("projects/risky/versions/lr")
        assert (root / issue["location"]["path"]).is_file()
    by_rule = {i["check_name"]: i for i in issues}
    assert by_rule["drop-table"]["severity"] == "critical"
    assert by_rule["blocking-index"]["severity"] == "major"
    assert by_rule["no-downgrade"]["severity"] == "info"  # accepted by its marker
    assert "[accepted: CLUSTER" in by_rule["no-downgrade"]["description"]
    # Each finding points at the op call or SQL text that made the statement.
    expected = {
        "drop-table": 'op.drop_table("legacy")',
        "drop-column": "op.drop_column(",
        "add-not-null-column": "op.add_column(",
        "blocking-index": "op.create_index(",
        "delete-without-where": "DELETE FROM events",
        "truncate": "TRUNCATE TABLE accounts",
        "drop-schema": "DROP SCHEMA archive",
        "no-downgrade": "def downgrade(",
    }
    for rule, text in expected.items():
        assert text in source_line(root, by_rule[rule]), (rule, by_rule[rule])
    assert len({i["fingerprint"] for i in issues}) == len(issues)


def test_fingerprints_survive_unrelated_line_shifts(run: Runner, root: Path) -> None:
    load_scenario("lint_risky", root)
    _, before = codeclimate(run, "risky", "--url", NOWHERE)
    versions = root / "projects" / "risky" / "versions"
    for path in versions.glob("lr1*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text("# reviewed in MR 42\n# see the runbook\n" + text, encoding="utf-8")
    _, after = codeclimate(run, "risky", "--url", NOWHERE)

    assert [i["fingerprint"] for i in after] == [i["fingerprint"] for i in before]
    lines = {i["fingerprint"]: i["location"]["lines"]["begin"] for i in before}
    for issue in after:
        shifted = "/lr1" in issue["location"]["path"]
        assert issue["location"]["lines"]["begin"] == lines[issue["fingerprint"]] + 2 * shifted
        assert issue in after
    # A change to the statement itself is a different finding.
    lr10 = versions / "lr10_delete_all.py"
    lr10.write_text(lr10.read_text().replace("DROP SCHEMA archive", "DROP SCHEMA attic"))
    _, edited = codeclimate(run, "risky", "--url", NOWHERE)
    schema = [i["fingerprint"] for i in edited if i["check_name"] == "drop-schema"]
    assert schema
    assert schema[0] not in lines


def test_codeclimate_points_into_the_paired_sql_file(run: Runner, root: Path) -> None:
    load_scenario("lint_clean", root)
    code, issues = codeclimate(run, "shop", "--url", NOWHERE)

    assert code == 0  # every error is accepted
    update = next(i for i in issues if i["check_name"] == "update-without-where")
    assert update["location"]["path"] == "projects/shop/versions/ls5_coupons.upgrade.sql"
    assert source_line(root, update).startswith("UPDATE customers SET tier")
    accepted = [i for i in issues if "[accepted: " in i["description"]]
    assert len(accepted) == 4
    assert {i["severity"] for i in accepted} == {"info"}


def test_history_findings_point_at_their_lines(run: Runner, root: Path, tmp_path: Path) -> None:
    load_scenario("lint_history", root)
    report = tmp_path / "lint.xml"
    code, issues = codeclimate(run, "--all", "--url", NOWHERE, "--junit", str(report))

    assert code == 1
    assert ET.parse(report).getroot().tag == "testsuites"  # --junit goes with any format
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for issue in issues:
        by_rule.setdefault(issue["check_name"], []).append(issue)
    for issue in by_rule["bad-marker"]:
        assert "# lint:" in source_line(root, issue)
    for issue in by_rule["duplicate-revision"]:
        assert source_line(root, issue).startswith("revision = ")
    (dangling,) = by_rule["unknown-down-revision"]
    assert source_line(root, dangling).startswith("down_revision = ")
    (heads,) = by_rule["multiple-heads"]
    assert heads["location"] == {"path": "projects/forked/alembic.ini", "lines": {"begin": 1}}


SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def sarif(run: Runner, *args: str) -> tuple[int, dict[str, Any]]:
    outcome = run("lint", *args, "--format", "sarif")
    log = json.loads(outcome.out)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(log)
    return outcome.code, log


def test_sarif_log_validates_and_describes_every_rule(run: Runner, root: Path) -> None:
    load_scenario("lint_risky", root)
    code, log = sarif(run, "risky", "--url", NOWHERE)

    assert code == 1
    assert log["version"] == "2.1.0"
    (only,) = log["runs"]
    rules = only["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    for rule in rules:
        assert rule["shortDescription"]["text"] == RULES[rule["id"]].summary
        assert rule["fullDescription"]["text"]
        assert rule["help"]["text"] == RULES[rule["id"]].rewrite
        level = {"error": "error", "warning": "warning", "info": "note"}[RULES[rule["id"]].severity]
        assert rule["defaultConfiguration"]["level"] == level
    results = only["results"]
    assert {r["ruleId"] for r in results} >= {"drop-table", "blocking-index", "no-downgrade"}
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        (place,) = result["locations"]
        uri = place["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.startswith("projects/risky/versions/lr")
        assert (root / uri).is_file()
        assert place["physicalLocation"]["region"]["startLine"] >= 1
        assert result["partialFingerprints"]
    drop = next(r for r in results if r["ruleId"] == "drop-table")
    line = drop["locations"][0]["physicalLocation"]["region"]["startLine"]
    uri = drop["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert 'op.drop_table("legacy")' in (root / uri).read_text().splitlines()[line - 1]
    accepted = next(r for r in results if r["ruleId"] == "no-downgrade")
    assert accepted["suppressions"][0]["kind"] == "inSource"
    # The same fingerprints as the Code Quality report.
    _, issues = codeclimate(run, "risky", "--url", NOWHERE)
    assert [next(iter(r["partialFingerprints"].values())) for r in results] == [
        i["fingerprint"] for i in issues
    ]


def test_sarif_schema_rejects_a_broken_log(run: Runner, root: Path) -> None:
    """The validation can fail: a result without its message is refused."""
    load_scenario("lint_risky", root)
    _, log = sarif(run, "risky", "--url", NOWHERE)
    del log["runs"][0]["results"][0]["message"]
    validator = jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert not validator.is_valid(log)


def test_fail_on_warning(run: Runner, root: Path) -> None:
    load_scenario("lint_clean", root)
    # Every error of the clean project is accepted; its warnings remain.
    assert run("lint", "shop", "--url", NOWHERE).code == 0
    outcome = run("lint", "shop", "--url", NOWHERE, "--fail-on", "warning", "--format", "sarif")
    assert outcome.code == 1
    assert "unaccepted error or warning finding(s) in shop" in outcome.err
    log = json.loads(outcome.out)  # the report is still printed whole
    assert any(
        r["level"] == "warning" and "suppressions" not in r for r in log["runs"][0]["results"]
    )
    assert run("lint", "shop", "--url", NOWHERE, "--fail-on", "error", "--json").code == 0


def test_json_findings_carry_file_and_line(run: Runner, root: Path) -> None:
    load_scenario("lint_clean", root)
    outcome = run("lint", "shop", "--url", NOWHERE, "--json")
    (shop,) = json.loads(outcome.out)["projects"]
    assert shop["path"] == "projects/shop"
    for item in shop["findings"]:
        assert item["line"] >= 1, item
        assert (root / shop["path"] / item["file"]).is_file(), item
    update = next(f for f in shop["findings"] if f["rule"] == "update-without-where")
    assert update["file"] == "versions/ls5_coupons.upgrade.sql"
    assert update["path"] == "versions/ls5_coupons.py"  # the revision file, for markers
