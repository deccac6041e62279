"""The Jenkinsfile, compiled by Debian's groovy (2.4, the Groovy Jenkins pipelines build
against) and its stages executed by tests/jenkins/harness.groovy: the Declarative blocks
and steps are stubbed as closures, every ``sh`` step runs for real, on a repository of
three projects (PostgreSQL with dev and a protected prod, MariaDB, SQLite).

Slow (a JVM and real runs). Skipped when groovy is missing, except under CI (``CI``
set), where that fails the run instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.databases import ServerPool
from tests.test_gitlab_local import Fleet, require_tool

# Not marked postgresql/mysql: .ci/run's second pass (servers in containers) need not run
# whole pipelines again; the servers come from the same pool all the same.
pytestmark = [pytest.mark.slow]
GROOVY = shutil.which("groovy")
JENKINSFILE = REPO / "Jenkinsfile"
HARNESS = REPO / "tests" / "jenkins" / "harness.groovy"
BIN = Path(sys.executable).parent
PROJECTS = {
    "orders": ("postgresql", "[env.dev]\n\n[env.prod]\nprotected = true\n"),
    "catalog": ("mysql", ""),
    "notes": ("sqlite", ""),
}


def java_env() -> dict[str, str]:
    """groovy's start script wants JAVA_HOME when /usr/lib/jvm/default-java is missing."""
    env = dict(os.environ)
    if not env.get("JAVA_HOME") and not Path("/usr/lib/jvm/default-java/bin/java").exists():
        java = shutil.which("java")
        if java:
            env["JAVA_HOME"] = str(Path(os.path.realpath(java)).parent.parent)
    return env


@pytest.fixture
def jenkins(tmp_path: Path, servers: ServerPool) -> Iterator[tuple[Fleet, dict[str, Any]]]:
    require_tool("groovy", GROOVY)
    root = tmp_path / "repo"
    root.mkdir()
    f = Fleet(root, tmp_path / "home")
    shutil.copy2(REPO / "Jenkinsfile", root / "Jenkinsfile")
    shutil.copytree(REPO / "ci", root / "ci", ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".gitignore").write_text("reports/\nvar/\n__pycache__/\n", encoding="utf-8")
    (root / "projects").mkdir()
    f.git("init", "-q", "-b", "main")
    for name, (dialect, targets) in PROJECTS.items():
        f.add_project(name, dialect, targets, tmp_path)
    main = f.commit("three projects")
    f.git("update-ref", "refs/remotes/origin/main", main)  # what a multibranch checkout has
    credentials: dict[str, dict[str, str]] = {
        "runner-test-postgres-url": {
            "kind": "text",
            "value": servers.admin_url("postgresql").render_as_string(False),
        },
        "runner-test-mysql-url": {
            "kind": "text",
            "value": servers.admin_url("mysql").render_as_string(False),
        },
    }
    with contextlib.ExitStack() as stack:
        for key, backend, variable in (
            ("orders/dev", "postgresql", "ORDERS_DEV_DATABASE_URL_FILE"),
            ("orders/prod", "postgresql", "ORDERS_PROD_DATABASE_URL_FILE"),
            ("catalog/default", "mysql", "CATALOG_DATABASE_URL_FILE"),
            ("notes/default", "sqlite", "NOTES_DATABASE_URL_FILE"),
        ):
            db = stack.enter_context(servers.fresh(backend, tmp_path, key.replace("/", "-")))
            f.databases[key] = db
            credentials[variable] = {"kind": "file", "value": db.url_string}
            credentials[f"plan-{variable}"] = {"kind": "file", "value": db.url_string}
        yield f, credentials


def run(f: Fleet, credentials: dict[str, Any], env: dict[str, str],
        approver: str | None = "jane") -> tuple[int, dict[str, Any], str]:  # fmt: skip
    scenario = f.root.parent / "scenario.json"
    trace = f.root.parent / "trace.json"
    base = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "JENKINS_URL": "https://ci/",
            "JOB_NAME": "dba/db", "BUILD_NUMBER": "17", "HOME": str(f.root.parent)}  # fmt: skip
    scenario.write_text(json.dumps({"workspace": str(f.root), "env": {**base, **env},
                                    "credentials": credentials, "approver": approver,
                                    "trace": str(trace)}))  # fmt: skip
    proc = subprocess.run([str(GROOVY), str(HARNESS), str(f.root / "Jenkinsfile"), str(scenario)],
                          env=java_env(), capture_output=True, text=True, timeout=900,
                          check=False)  # fmt: skip
    return proc.returncode, json.loads(trace.read_text()), proc.stdout + proc.stderr


def test_the_jenkinsfile_compiles_with_debians_groovy(tmp_path: Path) -> None:
    require_tool("groovy", GROOVY)
    proc = subprocess.run(
        [str(GROOVY), "-e", "new GroovyShell().parse(new File(args[0]))", str(JENKINSFILE)],
        env=java_env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_pull_request_checks_only_the_project_it_touches(
    jenkins: tuple[Fleet, dict[str, Any]],
) -> None:
    f, credentials = jenkins
    f.git("checkout", "-q", "-b", "notes-index")
    f.add_revision("notes", "CREATE INDEX ix_notes ON t_notes (id);", "DROP INDEX ix_notes;")
    f.commit("notes: an index")
    code, trace, output = run(f, credentials, {"BRANCH_NAME": "PR-7", "CHANGE_ID": "7",
                                               "CHANGE_TARGET": "main"})  # fmt: skip
    assert code == 0, output
    assert trace["stages"] == ["Changes", "Projects"]
    assert trace["skipped"] == ["Deploy"]
    assert trace["parallel"] == ["notes"]
    assert {step["env"]["PROJECT"] for step in trace["sh"][1:]} == {"notes"}
    lint, test = trace["sh"][1]["script"], trace["sh"][2]["script"]
    assert '--dialect "$DIALECT"' in lint
    assert '--db "$DIALECT"' in test
    # SQLite: no test server bound; the plan's read-only login only.
    assert [c["id"] for c in trace["credentials"]] == ["plan-NOTES_DATABASE_URL_FILE"]
    assert (f.root / "reports" / "notes" / "lint.xml").is_file()
    assert (f.root / "reports" / "notes" / "test.xml").is_file()
    assert "CREATE INDEX ix_notes" in (f.root / "reports" / "notes" / "plan.sql").read_text()
    assert trace["junit"] == ["reports/*/lint.xml, reports/*/test.xml"]
    assert trace["locks"] == []
    assert f.at("notes/default") == []


def test_the_default_branch_deploys_every_project_in_order(
    jenkins: tuple[Fleet, dict[str, Any]],
) -> None:
    f, credentials = jenkins
    code, trace, output = run(f, credentials, {"BRANCH_NAME": "main", "BUILD_USER_ID": "dba-joe"})
    assert code == 0, output
    assert trace["stages"] == ["Changes", "Projects", "Deploy"]
    assert sorted(trace["parallel"][:3]) == ["catalog", "notes", "orders"]
    assert trace["milestones"] == [{"ordinal": 1, "label": "deploy"}]
    # One lock per (project, environment); dev before prod.
    assert sorted(trace["locks"]) == ["db/catalog", "db/notes", "db/orders/dev", "db/orders/prod"]
    assert trace["locks"].index("db/orders/dev") < trace["locks"].index("db/orders/prod")
    assert trace["inputs"] == [{"message": "Deploy orders to prod?", "submitter": "dba",
                                "parameter": "APPROVER"}]  # fmt: skip
    tests = {s["env"]["PROJECT"]: s["script"] for s in trace["sh"] if "runner test" in s["script"]}
    assert set(tests) == {"orders", "catalog", "notes"}
    bound = [c["id"] for c in trace["credentials"]]
    assert "runner-test-postgres-url" in bound
    assert "runner-test-mysql-url" in bound
    for key in f.databases:
        assert f.at(key) == f.heads(key.split("/", 1)[0]), f"{key} was not deployed"
    log = subprocess.run(
        [sys.executable, "-m", "runner", "--root", str(f.root), "log", "orders", "--env", "prod",
         "--json"],
        env={**os.environ, "ORDERS_PROD_DATABASE_URL": f.databases["orders/prod"].url_string},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    who = {e["ci_identity"] for e in json.loads(log.stdout)["projects"][0]["entries"]}
    assert who == {"jenkins:dba-joe dba/db#17 approved by jane"}


def test_the_person_is_the_commit_author_without_build_user_id(
    jenkins: tuple[Fleet, dict[str, Any]],
) -> None:
    f, credentials = jenkins
    code, trace, output = run(f, credentials, {"BRANCH_NAME": "main"}, approver=None)
    assert code == 1, output  # the protected prod was not approved
    assert "orders" in (trace["error"] or "")
    assert f.at("orders/prod") == []
    assert f.at("orders/dev") == f.heads("orders")
    assert f.at("notes/default") == f.heads("notes"), "the other projects deployed all the same"
    log = subprocess.run(
        [sys.executable, "-m", "runner", "--root", str(f.root), "log", "orders", "--env", "dev",
         "--json"],
        env={**os.environ, "ORDERS_DEV_DATABASE_URL": f.databases["orders/dev"].url_string},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    who = {e["ci_identity"] for e in json.loads(log.stdout)["projects"][0]["entries"]}
    assert who == {"jenkins:jane@example.com dba/db#17"}, "not jenkins:?"
