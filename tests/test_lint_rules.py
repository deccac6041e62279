"""Every lint rule against its cases: SQL (or revision files) that must fire it, and close
variants that must not. The cases are data, one file per rule in tests/lint_cases/.

A case with ``sql`` goes straight to the SQL checker (:func:`runner.lint.sql.check_revision`),
so a sqlglot upgrade that changes how a statement parses names the rule that broke. A case
with ``revisions`` is written as a project and linted whole (history rules, markers,
rendering). ``known_failure`` marks a case that fails today, with the issue that fixes it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.db.backends import backend
from runner.db.target import file_target
from runner.lint import checks, pipeline, sql
from runner.lint.rules import RULES
from runner.project import repository
from runner.project.environment import ProjectEnv

CASES = Path(__file__).parent / "lint_cases"
VERDICTS = ("fire", "pass", "accepted")


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for verdict in VERDICTS:
            for i, case in enumerate(document.get(verdict, [])):
                marks = []
                if case.get("known_failure"):
                    marks.append(pytest.mark.xfail(reason=case["known_failure"], strict=True))
                params.append(
                    pytest.param(document["rule"], verdict, case, id=f"{path.stem}-{verdict}{i}",
                                 marks=marks)
                )  # fmt: skip
    return params


def _statements(case: dict[str, Any]) -> str:
    given = case["sql"]
    return "\n".join(f"{s};" for s in ([given] if isinstance(given, str) else given))


def _revision_source(spec: dict[str, Any]) -> str:
    if "source" in spec:
        return str(spec["source"])
    down = spec.get("down")
    table = f"t_{spec['id']}"
    body = {
        "upgrade": spec.get("upgrade", f'op.execute("CREATE TABLE {table} (id INTEGER)")'),
        "downgrade": spec.get("downgrade", f'op.execute("DROP TABLE {table}")'),
    }
    functions = "\n\n".join(
        f"def {name}() -> None:\n{textwrap.indent(code, '    ')}\n" for name, code in body.items()
    )
    return (
        f'"""revision {spec["id"]}"""\n{spec.get("header", "")}\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {spec['id']!r}\ndown_revision = {down!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n" + functions
    )


def _lint_project(case: dict[str, Any], tmp_path: Path) -> list[Any]:
    root = tmp_path / "repo"
    folder = root / "projects" / "cases"
    repository.write_template(folder, "cases")
    for spec in case["revisions"]:
        name = spec.get("file", f"{spec.get('id', 'x')}.py")
        (folder / "versions" / name).write_text(_revision_source(spec), encoding="utf-8")
    project = repository.Project("cases", folder)
    penv = ProjectEnv.load(project, file_target(tmp_path / "never-created.sqlite", "test"))
    dialect = case.get("dialect")
    return pipeline.lint(penv, dialect).findings


@pytest.mark.parametrize(("rule", "verdict", "case"), _load())
def test_rule_case(rule: str, verdict: str, case: dict[str, Any], tmp_path: Path) -> None:
    if "sql" in case:
        kind = backend(case["dialect"])
        guards = checks.Guards(**case.get("guards", {}))
        findings = sql.check_revision(
            "r1", _statements(case), kind, "alembic_version", None, None,
            case.get("autocommit", False), server_version=case.get("server_version"),
            guards=guards,
        )  # fmt: skip
    else:
        findings = _lint_project(case, tmp_path)
    mine = [f for f in findings if f.rule == rule]
    if verdict == "fire":
        assert [f for f in mine if not f.accepted], findings
        if "severity" in case:  # rules whose severity depends on the server version
            assert {f.severity for f in mine} == {case["severity"]}, findings
    elif verdict == "accepted":
        assert mine, findings
        assert all(f.accepted for f in mine), findings
    else:
        assert not mine, findings


def test_every_rule_has_cases_that_fire_and_that_pass() -> None:
    covered: dict[str, set[str]] = {}
    for path in CASES.glob("*.yml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert path.stem == document["rule"], path
        assert document["rule"] in RULES, f"{path.name}: unknown rule"
        covered[document["rule"]] = {v for v in VERDICTS if document.get(v)}
    for rule in RULES:
        assert {"fire", "pass"} <= covered.get(rule, set()), f"{rule} needs fire and pass cases"


def test_every_dialect_of_a_sql_rule_has_cases() -> None:
    """A SQL rule fires, and passes, on each dialect it covers (PostgreSQL and MySQL for
    the rules of every dialect)."""
    for rule in RULES.values():
        if not rule.sql:
            continue
        document = yaml.safe_load((CASES / f"{rule.id}.yml").read_text(encoding="utf-8"))
        for verdict in ("fire", "pass"):
            dialects = {c.get("dialect") for c in document[verdict]}
            missing = set(rule.dialects or ("postgresql", "mysql")) - dialects
            assert not missing, f"{rule.id}: no {verdict} case for {', '.join(missing)}"


def test_prefilter_never_hides_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first-word prefilter only skips rules that could not match: every case finds
    the same with it switched off."""
    import dataclasses

    cases = [c for _, _, c in (p.values for p in _load()) if "sql" in c]

    def run_all() -> list[list[tuple[str, str]]]:
        out = []
        for case in cases:
            found = sql.check_revision(
                "r1", _statements(case), backend(case["dialect"]), "alembic_version", None,
                None, case.get("autocommit", False), server_version=case.get("server_version"),
                guards=checks.Guards(**case.get("guards", {})),
            )  # fmt: skip
            out.append(sorted((f.rule, f.message) for f in found))
        return out

    # Most text rules are anchored, so the prefilter really skips work.
    assert sum(t.first_words is not None for t in checks._TEXT_RULES) >= 35
    with_prefilter = run_all()
    unfiltered = [dataclasses.replace(t, first_words=None) for t in checks._TEXT_RULES]
    monkeypatch.setattr(checks, "_TEXT_RULES", unfiltered)
    assert run_all() == with_prefilter
    assert sum(map(len, with_prefilter)) > 100
