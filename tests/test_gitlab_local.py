"""The GitLab pipelines run for real by gitlab-ci-local (shell executor), on a repository of
five projects: two PostgreSQL, one MariaDB, one SQLite, one SQLite with three environments
(and a fleet split over two jobs).

The root ``.gitlab-ci.yml``'s generator job writes the child pipeline; the child file then
runs as a pipeline, with the variables GitLab sets for a merge request or for the default
branch, and each (project, environment)'s URL as a file-type variable scoped to its
environment (gitlab-ci-local's ``variables.yml``). Test jobs get no ``services:``
(``RUNNER_CI_SERVICES=false``): the servers are this machine's.

Slow (a minute or more per pipeline). Skipped when gitlab-ci-local is not installed,
except under CI (``CI`` set), where a missing tool fails the run instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import REPO
from tests.databases import Database, ServerPool

# Not marked postgresql/mysql: .ci/run's second pass (servers in containers) need not run
# whole pipelines again; the servers come from the same pool all the same.
pytestmark = [pytest.mark.slow]
BIN = Path(sys.executable).parent
GCL = shutil.which("gitlab-ci-local")


def require_tool(name: str, found: str | None) -> None:
    if found:
        return
    why = f"{name} is not installed (npm install -g gitlab-ci-local@4.60.1; see .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


# (project, dialect, targets.toml body); the environments deploy in this order.
PROJECTS = {
    "orders": ("postgresql", "[env.prod]\n"),
    "billing": ("postgresql", ""),  # no environments: BILLING_DATABASE_URL_FILE
    "catalog": ("mysql", "[env.prod]\n"),
    "notes": ("sqlite", ""),  # NOTES_DATABASE_URL_FILE
    "stores": (
        "sqlite",
        "[env.dev]\n\n[env.staging]\n\n[env.prod]\nprotected = true\n\n"
        '[group.tenants]\nsqlite_glob = "{tenants}/*.sqlite"\nci_parallel = 2\n',
    ),
}
TENANTS = ["acme", "globex", "initech"]


@dataclass
class Pipeline:
    code: int
    output: str
    jobs: dict[str, str]  # job name -> PASS / FAIL / WARN

    def passed(self) -> set[str]:
        return {name for name, state in self.jobs.items() if state == "PASS"}

    def failed(self) -> set[str]:
        return {name for name, state in self.jobs.items() if state == "FAIL"}


@dataclass
class Fleet:
    """The temp repository, its databases and how to run its pipelines."""

    root: Path
    home: Path
    databases: dict[str, Database] = field(default_factory=dict)  # "project/env" -> db
    admin: dict[str, str] = field(default_factory=dict)

    def git(self, *argv: str) -> str:
        person = {"NAME": "Jane DBA", "EMAIL": "jane@example.com"}
        env = {**os.environ, **{f"GIT_{who}_{k}": v for who in ("AUTHOR", "COMMITTER")
                                for k, v in person.items()}}  # fmt: skip
        return subprocess.run(["git", *argv], cwd=self.root, env=env, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def runner(self, *argv: str) -> None:
        subprocess.run([sys.executable, "-m", "runner", "--root", str(self.root), *argv],
                       check=True, capture_output=True)  # fmt: skip

    def add_project(self, name: str, dialect: str, targets: str, tenants: Path) -> None:
        self.runner("new", name, "--dialect", dialect)
        (self.root / "projects" / name / "targets.toml").write_text(
            f'dialect = "{dialect}"\n\n' + targets.format(tenants=tenants), encoding="utf-8"
        )
        self.add_revision(name, f"CREATE TABLE t_{name} (id INTEGER PRIMARY KEY);",
                          f"DROP TABLE t_{name};")  # fmt: skip

    def add_revision(self, name: str, upgrade: str, downgrade: str) -> None:
        versions = self.root / "projects" / name / "versions"
        before = set(versions.glob("*.upgrade.sql"))
        self.runner("revision", name, "-m", f"change {len(before) + 1}", "--sql")
        [new] = set(versions.glob("*.upgrade.sql")) - before
        new.write_text(upgrade + "\n", encoding="utf-8")
        new.with_name(new.name.replace(".upgrade.", ".downgrade.")).write_text(
            downgrade + "\n", encoding="utf-8"
        )

    def variables(self, scoped: dict[str, dict[str, str]]) -> None:
        """File-type CI/CD variables with environment scopes, as a project's settings."""
        document = {"global": {k: {"type": "file", "values": v} for k, v in scoped.items()}}
        folder = self.home / ".gitlab-ci-local"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "variables.yml").write_text(yaml.safe_dump(document), encoding="utf-8")

    def gcl(self, *argv: str, variables: dict[str, str]) -> Pipeline:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "CI": ""}
        env.pop("CI", None)
        command = [str(GCL), "--force-shell-executor", "--home", str(self.home), *argv]
        for key, value in {**variables, **self.admin}.items():
            command += ["--variable", f"{key}={value}"]
        proc = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=1200, check=False)  # fmt: skip
        output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
        jobs = {
            m[2].strip(): m[1]
            for m in re.finditer(r"^\s*(PASS|FAIL|WARN)\s+(.+?)\s*$", output, re.MULTILINE)
        }
        return Pipeline(proc.returncode, output, jobs)

    def generate(self, variables: dict[str, str]) -> dict[str, object]:
        """The root pipeline's generator job; the child pipeline it wrote."""
        run = self.gcl("generate", variables=variables)
        assert run.code == 0, run.output
        assert run.jobs.get("generate") == "PASS", run.output
        child = self.root / "reports" / "child-pipeline.yml"
        check = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema",
                                "vendor.gitlab-ci", str(child)],
                               capture_output=True, text=True, check=False)  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
        document = yaml.safe_load(child.read_text(encoding="utf-8"))
        assert isinstance(document, dict)
        return document

    def child(self, variables: dict[str, str], *manual: str) -> Pipeline:
        argv = ["--file", "reports/child-pipeline.yml"]
        for job in manual:
            argv += ["--manual", job]
        return self.gcl(*argv, variables=variables)

    def at(self, key: str) -> list[str]:
        """The revisions of database ``project/env``."""
        project = key.split("/", 1)[0]
        with self.databases[key].connect() as connection:
            if not sa.inspect(connection).has_table(f"alembic_version_{project}"):
                return []
            rows = connection.exec_driver_sql(f"SELECT version_num FROM alembic_version_{project}")
            return [row[0] for row in rows]

    def heads(self, project: str) -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "runner", "--root", str(self.root), "heads", project, "--json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        import json

        return [r["revision"] for r in json.loads(proc.stdout)["projects"][0]["revisions"]]


def project_jobs(document: dict[str, object]) -> set[str]:
    keywords = {"stages", "variables", "default", "workflow", "include"}
    return {k for k in document if k not in keywords and not k.startswith(".")}


@pytest.fixture
def fleet(tmp_path: Path, servers: ServerPool) -> Iterator[Fleet]:
    require_tool("gitlab-ci-local", GCL)
    root = tmp_path / "repo"
    root.mkdir()
    f = Fleet(root, tmp_path / "home")
    shutil.copy2(REPO / ".gitlab-ci.yml", root / ".gitlab-ci.yml")
    shutil.copytree(REPO / "ci", root / "ci", ignore=shutil.ignore_patterns("__pycache__"))
    # As this repository ignores them: a job that ran the runner leaves __pycache__ behind.
    (root / ".gitignore").write_text(
        ".gitlab-ci-local/\nreports/\nvar/\n__pycache__/\n", encoding="utf-8"
    )
    (root / "README.md").write_text("databases\n", encoding="utf-8")
    (root / "projects").mkdir()
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    f.git("init", "-q", "-b", "main")
    for name, (dialect, targets) in PROJECTS.items():
        f.add_project(name, dialect, targets, tenants)
    f.commit("five projects")
    f.admin = {
        "RUNNER_TEST_POSTGRES_URL": servers.admin_url("postgresql").render_as_string(False),
        "RUNNER_TEST_MYSQL_URL": servers.admin_url("mysql").render_as_string(False),
    }
    with contextlib.ExitStack() as stack:
        wanted = {"orders/prod": "postgresql", "billing/default": "postgresql",
                  "catalog/prod": "mysql", "notes/default": "sqlite", "stores/dev": "sqlite",
                  "stores/staging": "sqlite", "stores/prod": "sqlite",
                  "newbie/default": "sqlite"}  # fmt: skip
        for key, backend in wanted.items():
            f.databases[key] = stack.enter_context(
                servers.fresh(backend, tmp_path, key.replace("/", "-"))
            )
        for tenant in TENANTS:
            sqlite3.connect(tenants / f"{tenant}.sqlite").close()
            f.databases[f"stores/tenants/{tenant}"] = Database(
                "sqlite", sa.engine.make_url(f"sqlite:///{tenants / tenant}.sqlite")
            )
        scoped: dict[str, dict[str, str]] = {}
        for key in wanted:
            project, env = key.split("/")
            stem = project.upper()
            variable = f"{stem}_DATABASE_URL_FILE" if env == "default" else (
                f"{stem}_{env.upper()}_DATABASE_URL_FILE")  # fmt: skip
            environment = f"db/{project}" if env == "default" else f"db/{project}/{env}"
            url = f.databases[key].url_string
            # The deploy login, scoped to its environment; the plan's (read-only in real
            # life), scoped to the project's plan environment.
            scoped[variable] = {environment: url, f"db/{project}/plan": url}
        f.variables(scoped)
        yield f


MERGE_REQUEST = {
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
    "CI_DEFAULT_BRANCH": "main",
    "CI_MERGE_REQUEST_IID": "7",
    "RUNNER_CI_SERVICES": "false",
}
DEFAULT_BRANCH = {
    "CI_PIPELINE_SOURCE": "push",
    "CI_COMMIT_BRANCH": "main",
    "CI_DEFAULT_BRANCH": "main",
    "RUNNER_CI_SERVICES": "false",
}


def merge_request(f: Fleet) -> dict[str, str]:
    return {**MERGE_REQUEST, "CI_MERGE_REQUEST_DIFF_BASE_SHA": f.git("merge-base", "main", "HEAD")}


def test_a_merge_request_runs_exactly_the_jobs_of_the_project_it_touches(fleet: Fleet) -> None:
    f = fleet
    started = time.monotonic()
    f.git("checkout", "-q", "-b", "add-index")
    f.add_revision("billing", "CREATE INDEX ix_billing ON t_billing (id);",
                   "DROP INDEX ix_billing;")  # fmt: skip
    f.commit("billing: an index")
    variables = merge_request(f)
    document = f.generate(variables)
    assert project_jobs(document) == {"lint:billing", "test:billing", "plan:billing",
                                      "deploy:billing"}  # fmt: skip
    run = f.child(variables)
    assert run.code == 0, run.output
    # The deploy job is not added to a merge request's pipeline.
    assert run.passed() == {"lint:billing", "test:billing", "plan:billing"}, run.output
    reports = f.root / "reports" / "billing"
    assert "CREATE INDEX ix_billing" in (reports / "plan.sql").read_text()
    assert (reports / "plan.md").is_file()
    assert "<testsuite" in (reports / "lint.xml").read_text()
    assert "<testsuite" in (reports / "test.xml").read_text()
    assert "RUNNER_GITLAB_TOKEN is not set" in run.output  # the note step says so, and passes
    assert f.at("billing/default") == [], "a merge request deploys nothing"
    print(f"merge request pipeline: {time.monotonic() - started:.0f} s")

    # A change to the docs only: no project's jobs at all.
    f.git("checkout", "-q", "main")
    f.git("checkout", "-q", "-b", "docs")
    (f.root / "README.md").write_text("databases, documented\n", encoding="utf-8")
    f.commit("docs")
    variables = merge_request(f)
    document = f.generate(variables)
    assert project_jobs(document) == {"no-project-changed"}
    run = f.child(variables)
    assert run.code == 0, run.output
    assert run.passed() == {"no-project-changed"}


def test_one_projects_lint_error_fails_only_its_jobs(fleet: Fleet) -> None:
    f = fleet
    f.git("checkout", "-q", "-b", "two-projects")
    f.add_revision("orders", "DELETE FROM t_orders;", "SELECT 1;")  # lint: delete-without-where
    f.add_revision("notes", "CREATE INDEX ix_notes ON t_notes (id);", "DROP INDEX ix_notes;")
    f.commit("orders and notes")
    variables = merge_request(f)
    document = f.generate(variables)
    assert {"lint:orders", "lint:notes"} <= project_jobs(document)
    assert not any(":billing" in job or ":stores" in job for job in project_jobs(document))
    run = f.child(variables)
    assert run.code != 0
    assert run.failed() == {"lint:orders"}, run.output
    assert {"lint:notes", "test:notes", "plan:notes"} <= run.passed(), run.output
    assert not {"test:orders", "plan:orders"} & set(run.jobs), "orders stops at its lint"
    quality = (f.root / "reports" / "orders" / "codequality.json").read_text()
    assert "delete-without-where" in quality


def test_the_default_branch_deploys_every_project_and_environment(fleet: Fleet) -> None:
    f = fleet
    started = time.monotonic()
    # A project added in this very change: no pipeline edit.
    f.add_project("newbie", "sqlite", "", f.root)
    f.commit("a new project")
    document = f.generate(DEFAULT_BRANCH)
    deploys = sorted(j for j in project_jobs(document) if j.startswith("deploy:"))
    assert deploys == ["deploy:billing", "deploy:catalog:prod", "deploy:newbie", "deploy:notes",
                       "deploy:orders:prod", "deploy:stores:dev", "deploy:stores:prod",
                       "deploy:stores:staging", "deploy:stores:tenants"]  # fmt: skip
    stores_prod = document["deploy:stores:prod"]
    assert isinstance(stores_prod, dict)
    assert stores_prod["needs"] == [{"job": "deploy:stores:staging", "artifacts": False}]
    assert stores_prod["rules"][0]["when"] == "manual"
    assert stores_prod["variables"] == {"RUNNER_CONFIRM": "prod"}
    assert stores_prod["environment"] == {"name": "db/stores/prod"}
    assert stores_prod["resource_group"] == "db/stores/prod"

    run = f.child(DEFAULT_BRANCH, "deploy:stores:prod")
    assert run.code == 0, run.output
    assert not run.failed(), run.output
    for key in f.databases:
        project = key.split("/")[0]
        assert f.at(key) == f.heads(project), f"{key} was not deployed"
    for key, variable in (("orders/prod", "ORDERS_PROD_DATABASE_URL_FILE"),
                          ("stores/dev", "STORES_DEV_DATABASE_URL_FILE"),
                          ("billing/default", "BILLING_DATABASE_URL_FILE")):  # fmt: skip
        project, env = key.split("/")
        folder = f.root / "reports" / project / ("" if env == "default" else env)
        assert variable in (folder / "status.json").read_text(), key
    # The fleet, over its two parallel jobs (CI_NODE_INDEX 1 and 2, --shard auto).
    for index in ("1", "2"):
        status = (f.root / "reports/stores/tenants" / index / "status.json").read_text()
        assert '"command": "status"' in status
    print(f"default-branch pipeline: {time.monotonic() - started:.0f} s")
