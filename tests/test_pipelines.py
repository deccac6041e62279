"""The CI pipelines: the root .gitlab-ci.yml (a generator job and a trigger), the child
pipelines `runner ci gitlab` writes, the Jenkinsfile, and `runner ci changed`.

Static checks: GitLab's CI schema (check-jsonschema's vendor.gitlab-ci) for the root file
and for generated children of several repository shapes; per project its own jobs,
artifacts and credentials; deploys only on the default branch, in promotion order, one
resource group per (project, environment), protected ones manual; every runner command
line parsed by the real CLI. Then a generated deploy job's shell lines run for real in
bash on a temp checkout. The pipelines as a whole run in tests/test_gitlab_local.py
(gitlab-ci-local) and tests/test_jenkins.py (a Groovy harness).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from ci import require_target
from runner.cli import cli

REPO = Path(__file__).parent.parent
GITLAB = REPO / ".gitlab-ci.yml"
JENKINS = REPO / "Jenkinsfile"
BIN = Path(sys.executable).parent
CHILD_STAGES = ["lint", "test", "plan", "deploy"]
JENKINS_STAGES = ["Changes", "Projects", "Deploy"]
# The verbs each pipeline must call.
PIPELINE_VERBS = {"lint", "test", "plan", "apply", "status", "log", "ci changed"}
# user:password@ in a URL
INLINE_PASSWORD = re.compile(r"://[^/\s:@'\"]+:[^/\s@'\"]+@")
# Shell variables of the Jenkinsfile's steps, as one project would set them.
SUBSTITUTES = {
    r"\$\{?(?:p|PROJECT)\}?": "example",
    r"\"\$DIALECT\"": "postgresql",
    r"\$PICK\b": "--env dev",
    r"\$\{?OUT\}?": "reports/example/dev",
}
KEYWORDS = {"stages", "variables", "workflow", "default", "include", "image", "services"}


def check_schema(*paths: Path) -> None:
    """GitLab's own CI schema, as check-jsonschema ships it."""
    tool = BIN / "check-jsonschema"
    assert tool.exists(), "pip install -e '.[dev]' (check-jsonschema)"
    proc = subprocess.run([str(tool), "--builtin-schema", "vendor.gitlab-ci", *map(str, paths)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


@functools.cache
def root_pipeline() -> dict[str, Any]:
    document = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def jobs_of(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in document.items() if k not in KEYWORDS and not k.startswith(".")}


# --------------------------------------------------------- GitLab rules, in brief


def _operand(token: str, env: Mapping[str, str]) -> str | None:
    token = token.strip()
    if token.startswith("$"):
        return env.get(token.lstrip("$").strip("{}")) or None
    if token[:1] in "\"'" and token[-1:] == token[:1]:
        return token[1:-1]
    if token == "null":
        return None
    raise AssertionError(f"rule operand this test does not understand: {token!r}")


def _condition(expression: str, env: Mapping[str, str]) -> bool:
    """``$A == "x"``, ``$A != $B``, ``$A``, joined by ``&&`` / ``||`` (no parentheses)."""
    for alternative in expression.split("||"):
        clauses = []
        for clause in alternative.split("&&"):
            match = re.fullmatch(r"\s*(.+?)\s*(==|!=)\s*(.+?)\s*", clause)
            if match:
                left, right = _operand(match[1], env), _operand(match[3], env)
                clauses.append(left == right if match[2] == "==" else left != right)
            else:
                clauses.append(_operand(clause, env) is not None)
        if all(clauses):
            return True
    return False


def when(rules: list[dict[str, Any]] | None, env: Mapping[str, str]) -> str | None:
    """What GitLab does with a job (``on_success``, ``manual``...), None when not added."""
    if rules is None:
        return "on_success"
    for rule in rules:
        if "if" not in rule or _condition(rule["if"], env):
            result = rule.get("when", "on_success")
            return None if result == "never" else str(result)
    return None


# ----------------------------------------------------------- reading Jenkins


def _skip_literal(text: str, i: int) -> int:
    """Index just past the Groovy string or comment starting at ``i`` (else ``i``)."""
    for opener, closer in (("'''", "'''"), ('"""', '"""'), ("//", "\n"), ("/*", "*/")):
        if text.startswith(opener, i):
            end = text.find(closer, i + len(opener))
            assert end != -1, f"unterminated {opener} at {i}"
            return end + len(closer)
    if text[i] in "'\"":
        j = i + 1
        while text[j] != text[i]:
            j += 2 if text[j] == "\\" else 1
        return j + 1
    return i


def _block(text: str, start: int) -> str:
    """The ``{...}`` block opening at or after ``start``, strings and comments respected."""
    i = text.index("{", start)
    depth, body_start = 0, i + 1
    while i < len(text):
        skipped = _skip_literal(text, i)
        if skipped != i:
            i = skipped
            continue
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[body_start:i]
        i += 1
    raise AssertionError("unbalanced braces")


@functools.cache
def jenkinsfile() -> str:
    return JENKINS.read_text(encoding="utf-8")


def jenkins_stages() -> dict[str, str]:
    """``{stage name: body}`` in file order."""
    text = jenkinsfile()
    return {m[1]: _block(text, m.end()) for m in re.finditer(r"stage\('([^']+)'\)", text)}


def jenkins_sh(body: str) -> list[str]:
    """The shell scripts of the ``sh '''...'''`` steps in ``body``, in order."""
    return [textwrap.dedent(m[1]) for m in re.finditer(r"\bsh '''(.*?)'''", body, re.DOTALL)]


# -------------------------------------------------------- runner command lines


def runner_calls(script: str) -> list[list[str]]:
    """Every ``python -m runner ...`` in a shell script, as argv after ``runner``.

    Comment lines are skipped; ``$p``/``$PROJECT`` become ``example``; the
    command ends at the first shell operator (redirection, ``||``, ``;``...).
    """
    calls = []
    for line in script.splitlines():
        if line.strip().startswith("#"):
            continue
        command_line = line
        for pattern, value in SUBSTITUTES.items():
            command_line = re.sub(pattern, value, command_line)
        for match in re.finditer(r"\bpython3? -m runner\b(.*)", command_line):
            lexer = shlex.shlex(match[1], posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            argv = []
            for token in lexer:
                if token and all(c in lexer.punctuation_chars for c in token):
                    break  # a shell operator: ;, |, ||, &&, >, <...
                argv.append(token)
            calls.append(argv)
    return calls


def check_call(argv: list[str]) -> tuple[str, frozenset[str]]:
    """Parse ``argv`` with the real CLI; return the verb and the options used."""
    global_options = {opt for param in cli.params for opt in param.opts}
    while argv and argv[0] in global_options:
        argv = argv[1:] if argv[0] == "--debug" else argv[2:]
    assert argv, "python -m runner without a verb"
    verb, args = argv[0], argv[1:]
    assert verb in cli.commands, f"{verb!r} is not a runner verb ({sorted(cli.commands)})"
    command = cli.commands[verb]
    if isinstance(command, click.Group):  # runner ci gitlab-note ...
        assert args, f"runner {verb} without a subcommand"
        assert args[0] in command.commands, f"{verb} {args[0]!r} is not a runner verb"
        verb, command, args = f"{verb} {args[0]}", command.commands[args[0]], args[1:]
    try:
        command.make_context(verb, list(args))
    except click.ClickException as exc:
        raise AssertionError(f"runner {shlex.join(argv)}: {exc.format_message()}") from exc
    known = {opt for param in command.params for opt in param.opts}
    used = frozenset(a.split("=", 1)[0] for a in args if a.startswith("--"))
    assert used <= known, f"runner {verb}: unknown options {used - known}"
    return verb, used


def all_jenkins_shell() -> str:
    return "\n".join(jenkins_sh(jenkinsfile()))


# ======================================================================= root


def test_the_root_pipeline_is_a_generator_and_a_trigger() -> None:
    check_schema(GITLAB)
    document = root_pipeline()
    jobs = jobs_of(document)
    assert sorted(jobs) == ["databases", "generate"], "no job per project in the root file"
    generate, trigger = jobs["generate"], jobs["databases"]
    calls = [check_call(c) for c in runner_calls("\n".join(generate["script"]))]
    assert ("ci gitlab", frozenset({"--out"})) in calls
    out = next(c for c in runner_calls("\n".join(generate["script"])) if c[:2] == ["ci", "gitlab"])
    child = out[out.index("--out") + 1]
    assert generate["artifacts"]["paths"] == [child]
    assert generate["variables"]["GIT_DEPTH"] == "0", "the merge base must be in the clone"
    assert trigger["trigger"] == {"include": [{"artifact": child, "job": "generate"}],
                                  "strategy": "depend"}  # fmt: skip
    assert trigger["needs"] == ["generate"]
    assert trigger["variables"]["RUNNER_MR_IID"] == "$CI_MERGE_REQUEST_IID"
    assert generate["image"] == {"name": "$RUNNER_IMAGE", "entrypoint": [""]}
    assert document["variables"]["RUNNER_ROOT"] == "."


def test_the_root_pipeline_runs_for_merge_requests_and_branches() -> None:
    rules = root_pipeline()["workflow"]["rules"]
    assert when(rules, MERGE_REQUEST) == "on_success"
    assert when(rules, MAIN_PUSH) == "on_success"
    assert when(rules, {**BRANCH_PUSH, "CI_OPEN_MERGE_REQUESTS": "dba/db!1"}) is None


MAIN_PUSH = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}
BRANCH_PUSH = {**MAIN_PUSH, "CI_COMMIT_BRANCH": "add-index"}
# A merge request's child pipeline: no CI_COMMIT_BRANCH (GitLab sets none for it).
MERGE_REQUEST = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main"}
CHILD_OF_MERGE_REQUEST = {"CI_PIPELINE_SOURCE": "parent_pipeline", "CI_DEFAULT_BRANCH": "main"}


# ============================================================ generated children


@dataclass
class Repo:
    path: Path

    def git(self, *argv: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
        return subprocess.run(["git", *argv], cwd=self.path, env=env, capture_output=True,
                              text=True, check=True).stdout  # fmt: skip

    def write(self, relative: str, text: str = "x\n") -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def runner(
        self, *argv: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("CI_", "CHANGE_", "RUNNER_CI"))}  # fmt: skip
        return subprocess.run([sys.executable, "-m", "runner", "--root", str(self.path), *argv],
                              # not from the checkout: its runner/ would shadow ours
                              cwd=self.path.parent, env={**clean, **(env or {})},
                              capture_output=True,
                              text=True, check=False)  # fmt: skip

    def new(self, name: str, dialect: str | None = None, targets: str = "") -> None:
        argv = ["new", name] + (["--dialect", dialect] if dialect else [])
        done = self.runner(*argv)
        assert done.returncode == 0, done.stderr
        if dialect:
            self.write(f"projects/{name}/targets.toml", f'dialect = "{dialect}"\n\n{targets}')

    def changed(self, *argv: str, env: Mapping[str, str] | None = None) -> tuple[list[str], str]:
        done = self.runner("ci", "changed", *argv, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.split(), done.stderr

    def child(self, *argv: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        out = self.path / "reports" / "child.yml"
        done = self.runner("ci", "gitlab", "--out", str(out), *argv, env=env)
        assert done.returncode == 0, done.stderr
        check_schema(out)
        document = yaml.safe_load(out.read_text(encoding="utf-8"))
        assert isinstance(document, dict)
        return document


FLEET_TARGETS = """[env.dev]

[env.staging]
url_env = "BILLING_STAGING_URL"

[env.prod]
protected = true

[group.tenants]
members_env = "BILLING_TENANT_URLS"
ci_parallel = 4
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main: billing (PostgreSQL: dev, staging, a protected prod, a fleet over four jobs),
    shop (MariaDB, no environments), notes (SQLite), legacy (no targets file)."""
    r = Repo(tmp_path / "repo")
    r.path.mkdir()
    r.git("init", "-q", "-b", "main")
    (r.path / "projects").mkdir()
    r.new("billing", "postgresql", FLEET_TARGETS)
    r.new("shop", "mysql")
    r.new("notes", "sqlite")
    r.new("legacy")
    r.write("projects/shared/helpers.py")  # no alembic.ini: not a project
    r.write("runner/cli.py")
    r.write("README.md")
    r.commit("init")
    r.git("checkout", "-q", "-b", "feature")
    return r


def test_a_child_per_project_validates_and_keeps_to_its_project(repo: Repo) -> None:
    document = repo.child("--since", "")
    assert document["stages"] == CHILD_STAGES
    jobs = jobs_of(document)
    for name in ("billing", "shop", "notes", "legacy"):
        mine = {k: v for k, v in jobs.items() if k.split(":")[1] == name}
        assert {f"lint:{name}", f"test:{name}", f"plan:{name}"} <= set(mine)
        for job_name, job in mine.items():
            for path in job["artifacts"]["paths"]:
                assert path.startswith(f"reports/{name}/"), (job_name, path)
            for report in job["artifacts"].get("reports", {}).values():
                assert report.startswith(f"reports/{name}/"), job_name
            assert job["artifacts"]["when"] == "always"
            assert job["artifacts"]["expire_in"]
            script = "\n".join(job["script"] + job.get("after_script", []))
            for call in runner_calls(script):
                check_call(call)
                assert any(name == a or f"reports/{name}/" in a for a in call), (job_name, call)
        # Lint and test on the declared dialect; a failure stops only this project's jobs.
        dialect = {"billing": "postgresql", "shop": "mysql"}.get(name, "sqlite")
        lint = "\n".join(jobs[f"lint:{name}"]["script"])
        assert f"--dialect {dialect} --junit reports/{name}/lint.xml" in lint
        assert f"--format codeclimate > reports/{name}/codequality.json" in lint
        assert jobs[f"lint:{name}"]["artifacts"]["reports"] == {
            "junit": f"reports/{name}/lint.xml",
            "codequality": f"reports/{name}/codequality.json",
        }
        assert f"--db {dialect}" in "\n".join(jobs[f"test:{name}"]["script"])
        assert jobs[f"test:{name}"]["needs"] == [{"job": f"lint:{name}", "artifacts": False}]
        assert jobs[f"plan:{name}"]["needs"] == [{"job": f"test:{name}", "artifacts": False}]
        plan = [check_call(c) for c in runner_calls("\n".join(jobs[f"plan:{name}"]["script"]))]
        assert ("plan", frozenset({"--json"})) in plan
        assert ("plan", frozenset({"--format"})) in plan
        assert ("plan", frozenset({"--out"})) in plan
        assert ("ci gitlab-note", frozenset({"--plan"})) in plan
    services = {n: jobs[f"test:{n}"].get("services") for n in ("billing", "shop", "notes")}
    assert services == {
        "billing": [{"name": "postgres:16", "alias": "postgres"}],
        "shop": [{"name": "mariadb:11", "alias": "mariadb"}],
        "notes": None,
    }
    assert "postgres:5432" in jobs["test:billing"]["variables"]["RUNNER_TEST_POSTGRES_URL"]


def test_deploys_follow_the_declared_order_on_the_default_branch_only(repo: Repo) -> None:
    jobs = jobs_of(repo.child("--since", ""))
    deploys = [k for k in jobs if k.startswith("deploy:billing")]
    assert deploys == ["deploy:billing:dev", "deploy:billing:staging", "deploy:billing:prod",
                       "deploy:billing:tenants"]  # fmt: skip
    previous = "plan:billing"
    for name in deploys:
        job = jobs[name]
        env = name.split(":")[2]
        assert job["needs"] == [{"job": previous, "artifacts": False}], name
        assert job["environment"] == {"name": f"db/billing/{env}"}
        assert job["resource_group"] == f"db/billing/{env}"
        previous = name
        expected = "manual" if env == "prod" else "on_success"
        assert when(job["rules"], MAIN_PUSH) == expected, name
        for other in (BRANCH_PUSH, MERGE_REQUEST, CHILD_OF_MERGE_REQUEST):
            assert when(job["rules"], other) is None, (name, other)
        calls = [check_call(c) for c in runner_calls("\n".join(job["script"]))]
        assert [verb for verb, _ in calls] == ["plan", "apply"], name
        assert "--out" in calls[0][1]
        after = [check_call(c) for c in runner_calls("\n".join(job["after_script"]))]
        assert [verb for verb, _ in after] == ["status", "log"]
    assert jobs["deploy:billing:prod"]["variables"] == {"RUNNER_CONFIRM": "prod"}
    assert jobs["deploy:billing:prod"]["allow_failure"] is False
    assert "variables" not in jobs["deploy:billing:dev"]
    tenants = jobs["deploy:billing:tenants"]
    assert tenants["parallel"] == 4
    assert "--group tenants --shard auto --out reports/billing/tenants/${CI_NODE_INDEX}/" in (
        "\n".join(tenants["script"])
    )
    # A project without environments: one deploy, refused without a URL of its own.
    assert [k for k in jobs if k.startswith("deploy:legacy")] == ["deploy:legacy"]
    assert jobs["deploy:legacy"]["environment"] == {"name": "db/legacy"}
    assert "python ci/require_target.py legacy" in jobs["deploy:legacy"]["script"]
    # Review jobs run in every pipeline.
    for name in ("lint:billing", "test:billing", "plan:billing"):
        assert "rules" not in jobs[name]
        assert "resource_group" not in jobs[name]


def test_a_change_to_one_project_generates_only_its_jobs(repo: Repo) -> None:
    repo.write("projects/notes/versions/x.py")
    repo.commit("notes")
    base = repo.git("merge-base", "main", "HEAD").strip()
    jobs = jobs_of(repo.child(env={"CI_MERGE_REQUEST_DIFF_BASE_SHA": base}))
    assert set(jobs) == {"lint:notes", "test:notes", "plan:notes", "deploy:notes"}
    repo.git("checkout", "-q", "-b", "docs", "main")
    repo.write("README.md", "docs only\n")
    repo.commit("docs")
    document = repo.child("--since", "main")
    assert set(jobs_of(document)) == {"no-project-changed"}


def test_without_services_for_a_shell_executor(repo: Repo) -> None:
    for argv, env in ((["--no-services"], {}), ([], {"RUNNER_CI_SERVICES": "false"})):
        jobs = jobs_of(repo.child("--since", "", *argv, env=env))
        assert "services" not in jobs["test:billing"]
        assert "variables" not in jobs["test:billing"], "the URLs come from the environment"
    jobs = jobs_of(repo.child("--since", "", env={"RUNNER_POSTGRES_IMAGE": "registry/pg:15"}))
    assert jobs["test:billing"]["services"][0]["name"] == "registry/pg:15"


def test_ci_changed_json_describes_dialects_and_deploys(repo: Repo) -> None:
    done = repo.runner("ci", "changed", "--since", "", "--json")
    assert done.returncode == 0, done.stderr
    projects = {p["project"]: p for p in json.loads(done.stdout)["projects"]}
    assert sorted(projects) == ["billing", "legacy", "notes", "shop"]
    billing = projects["billing"]
    assert billing["dialect"] == "postgresql"
    deploys = {d["name"]: d for d in billing["deploys"]}
    assert list(deploys) == ["dev", "staging", "prod", "tenants"]
    assert deploys["dev"]["bind"] == [["BILLING_DEV_DATABASE_URL_FILE", "file"]]
    assert deploys["staging"]["bind"] == [["BILLING_STAGING_URL_FILE", "file"]]
    assert deploys["prod"]["protected"] is True
    assert deploys["tenants"]["bind"] == [["BILLING_TENANT_URLS", "text"]]
    assert deploys["tenants"]["parallel"] == 4
    assert deploys["tenants"]["environment"] == "db/billing/tenants"
    assert projects["legacy"]["deploys"][0]["bind"] == [["LEGACY_DATABASE_URL_FILE", "file"]]
    assert projects["legacy"]["dialect"] == "sqlite"


def test_a_bad_ci_parallel_is_refused(repo: Repo) -> None:
    repo.write("projects/shop/targets.toml",
               'dialect = "mysql"\n[group.t]\nmembers_env = "X"\nci_parallel = 0\n')  # fmt: skip
    jobs = jobs_of(repo.child("--since", ""))
    assert [k for k in jobs if k.endswith(":shop")] == ["lint:shop"]
    assert "ci_parallel must be a whole number from 1 to 200" in jobs["lint:shop"]["script"][0]
    lint = repo.runner("lint", "shop")
    assert lint.returncode == 2, "the job fails, naming the key"
    assert "ci_parallel" in lint.stderr


def test_a_broken_targets_file_fails_only_its_project(repo: Repo) -> None:
    repo.write("projects/shop/targets.toml", 'dialect = "mysql"\nprotect = true\n')
    jobs = jobs_of(repo.child("--since", ""))
    assert [k for k in jobs if k.endswith(":shop")] == ["lint:shop"]
    assert "unknown key" in jobs["lint:shop"]["script"][0]
    assert "protect" in jobs["lint:shop"]["script"][0]
    assert {"lint:notes", "test:notes", "plan:notes", "deploy:notes"} <= set(jobs)
    done = repo.runner("ci", "changed", "--since", "", "--json")
    shop = next(p for p in json.loads(done.stdout)["projects"] if p["project"] == "shop")
    assert "protect" in shop["problem"]


def test_no_secret_values_inline(repo: Repo) -> None:
    texts = [GITLAB.read_text(), JENKINS.read_text()]
    repo.child("--since", "")
    texts.append((repo.path / "reports" / "child.yml").read_text())
    for text in texts:
        assert not INLINE_PASSWORD.search(text)
    blocks = [root_pipeline()["variables"]] + [j.get("variables", {}) for j in
                                               jobs_of(root_pipeline()).values()]  # fmt: skip
    for block in blocks:
        for key in block:
            assert not re.search(r"_DATABASE_URL(_FILE)?$|PASSWORD|SECRET|TOKEN", key), key
    assert not re.search(r"_DATABASE_URL\w*\s*=", jenkinsfile()), "secrets: withCredentials"


# ===================================================================== Jenkins


def test_jenkinsfile_structure() -> None:
    text = jenkinsfile()
    stages = jenkins_stages()
    assert list(stages) == JENKINS_STAGES
    assert "python -m runner ci changed --json" in stages["Changes"]
    assert "readJSON(file: 'reports/changed.json')" in stages["Changes"]
    assert "parallel branches" in stages["Projects"]
    deploy = stages["Deploy"]
    assert re.search(r"when\s*\{[^}]*\bbranch 'main'", deploy)
    assert "milestone(ordinal: 1" in deploy
    assert "parallel branches" in deploy
    project_steps = _block(text, text.index("def deployProject"))
    assert "lock(resource: d.environment)" in project_steps
    assert "submitter: env.RUNNER_DEPLOY_APPROVERS" in project_steps
    assert '"RUNNER_CONFIRM=${d.name}", "RUNNER_APPROVED_BY=${approver}"' in project_steps
    assert project_steps.index("input(") < project_steps.index("lock("), "approve, then lock"
    check = _block(text, text.index("def checkProject"))
    assert "withCredentials(testServer(p.dialect))" in check
    post = _block(text, text.index("post {"))
    always = _block(post, post.index("always"))
    assert "archiveArtifacts" in always
    junit = re.search(r"junit [^\n]*testResults: '([^']+)'", always)
    assert junit
    patterns = [p.strip() for p in junit[1].split(",")]
    for verb in ("lint", "test"):
        written = [c[c.index("--junit") + 1] for c in runner_calls(all_jenkins_shell())
                   if c[0] == verb and "--junit" in c]  # fmt: skip
        assert written
        assert all(any(fnmatch.fnmatch(w, p) for p in patterns) for w in written), written


@pytest.mark.parametrize("pipeline", ["gitlab", "jenkins"])
def test_every_runner_call_is_a_real_verb_with_real_options(pipeline: str, repo: Repo) -> None:
    if pipeline == "jenkins":
        script = all_jenkins_shell()
    else:
        jobs = jobs_of(repo.child("--since", ""))
        script = "\n".join(
            [*root_pipeline()["generate"]["script"]]
            + [
                line
                for job in jobs.values()
                for line in job["script"] + job.get("after_script", [])
            ]
        )
    calls = runner_calls(script)
    verbs = {check_call(call)[0] for call in calls}
    assert verbs >= PIPELINE_VERBS, PIPELINE_VERBS - verbs


def test_runner_calls_are_parsed_and_checked() -> None:
    """The checks above can fail: a typo in a verb or an option is caught."""
    assert runner_calls('python -m runner plan "$p" --json > "reports/plan-$p.json"') == [
        ["plan", "example", "--json"]
    ]
    assert runner_calls("  # python -m runner plan x --nope") == []
    with pytest.raises(AssertionError, match="not a runner verb"):
        check_call(["deploy", "example"])
    with pytest.raises(AssertionError, match="not a runner verb"):
        check_call(["ci", "gitlb"])
    with pytest.raises(AssertionError, match="--jsn"):
        check_call(["status", "example", "--jsn"])
    with pytest.raises(AssertionError, match="oracle"):
        check_call(["test", "example", "--db", "oracle"])


# ================================================================== ci changed


def test_changed_two_projects(repo: Repo) -> None:
    repo.write("projects/notes/versions/002_add_index.py")
    repo.write("projects/shop/alembic.ini", (repo.path / "projects/shop/alembic.ini").read_text()
               + "\n# changed\n")  # fmt: skip
    repo.write("projects/shared/helpers.py", "y\n")
    repo.write("README.md", "docs\n")
    repo.commit("two projects")
    # main moves on after the fork: not this branch's change (three-dot diff)
    repo.git("checkout", "-q", "main")
    repo.write("projects/billing/versions/002_other.py")
    repo.commit("billing on main")
    repo.git("checkout", "-q", "feature")
    names, why = repo.changed("--since", "main")
    assert names == ["notes", "shop"]
    assert "notes, shop" in why
    # GitLab's merge-request base and Jenkins' pull-request target, without --since
    base = repo.git("merge-base", "main", "HEAD").strip()
    assert repo.changed(env={"CI_MERGE_REQUEST_DIFF_BASE_SHA": base})[0] == ["notes", "shop"]
    repo.git("update-ref", "refs/remotes/origin/main", "main")
    assert repo.changed(env={"CHANGE_TARGET": "main"})[0] == ["notes", "shop"]


@pytest.mark.parametrize("path", [".gitlab-ci.yml", "Jenkinsfile", "ci/x.py", "pyproject.toml",
                                  "runner/cli.py", "docker/Dockerfile"])  # fmt: skip
def test_changed_runner_or_pipeline_selects_every_project(repo: Repo, path: str) -> None:
    repo.write("projects/notes/versions/002_add_index.py")
    repo.write(path, "changed\n")
    repo.commit("runner")
    names, why = repo.changed("--since", "main")
    assert names == ["billing", "legacy", "notes", "shop"]
    assert path in why


def test_changed_nothing_removed_and_fallbacks(repo: Repo) -> None:
    every = ["billing", "legacy", "notes", "shop"]
    repo.write("README.md", "docs only\n")
    repo.commit("docs")
    names, why = repo.changed("--since", "main")
    assert names == []
    assert "no project" in why
    repo.git("rm", "-q", "-r", "projects/legacy")
    repo.write("projects/notes/versions/002.py")
    repo.commit("drop legacy")
    names, why = repo.changed("--since", "main")
    assert names == ["notes"]
    assert "legacy" in why
    every.remove("legacy")
    assert repo.changed()[0] == every  # a branch build: no base
    assert repo.changed("--since", "")[0] == every
    names, why = repo.changed("--since", "origin/not-fetched")
    assert names == every
    assert "cannot diff" in why


def test_require_target_names_the_variable() -> None:
    assert require_target.env_stem("billing-eu") == "BILLING_EU"


# ================================================================== execution


@dataclass
class JobRun:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


def _bash(lines: list[str], workdir: Path, env: Mapping[str, str]) -> JobRun:
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", "\n".join(lines)], cwd=workdir,
                          env=dict(env), capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    return JobRun(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class Checkout:
    path: Path
    database: Path
    url_file: Path
    jobs: dict[str, dict[str, Any]]

    def run(self, name: str, **overrides: str | None) -> JobRun:
        """script in one bash (as GitLab does), then after_script apart."""
        job = self.jobs[name]
        env = {
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(self.path),
            "LANG": "C.UTF-8", "CI": "true", "GITLAB_CI": "true", "PYTHONDONTWRITEBYTECODE": "1",
            "CI_PROJECT_DIR": str(self.path), "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push", "CI_PIPELINE_ID": "4242",
            "CI_JOB_URL": "https://gitlab.example.com/dba/db/-/jobs/77",
            "GITLAB_USER_LOGIN": "dba-jane", "RUNNER_ROOT": ".",
            "EXAMPLE_DATABASE_URL_FILE": str(self.url_file),
        }  # fmt: skip
        merged: dict[str, str | None] = {**env, **job.get("variables", {}), **overrides}
        clean = {k: v for k, v in merged.items() if v is not None}
        result = _bash(job["script"], self.path, clean)
        if job.get("after_script"):
            tail = _bash(job["after_script"], self.path, clean)
            result = JobRun(result.code, result.out + tail.out, result.err + tail.err)
        return result


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    """A committed copy of the repository's projects, its child pipeline, and a SQLite
    'production' database given as a file-type variable."""
    path = tmp_path / "builds" / "dba" / "db"
    path.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("projects", "ci"):
        shutil.copytree(REPO / folder, path / folder, ignore=ignore)
    r = Repo(path)
    r.git("init", "-q", "-b", "main")
    r.commit("init")
    document = r.child("--since", "")
    database = tmp_path / "prod" / "example.sqlite"
    database.parent.mkdir()
    url_file = tmp_path / "secrets" / "EXAMPLE_DATABASE_URL_FILE"
    url_file.parent.mkdir()
    url_file.write_text(f"sqlite:///{database}\n", encoding="utf-8")
    return Checkout(path, database, url_file, jobs_of(document))


def _current(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version_example")]


@pytest.mark.slow
def test_a_generated_deploy_job_runs_end_to_end(checkout: Checkout) -> None:
    co = checkout
    for name in ("lint:example", "test:example", "plan:example"):
        done = co.run(name)
        assert done.code == 0, (name, done.output)
    assert "CREATE TABLE foo" in (co.path / "reports/example/plan.sql").read_text()
    assert json.loads((co.path / "reports/example/plan.json").read_text())["projects"]
    deploy = co.run("deploy:example")
    assert deploy.code == 0, deploy.output
    assert _current(co.database)
    assert not (co.path / "var" / "example.sqlite").exists(), "deployed to the embedded default"
    status = json.loads((co.path / "reports/example/status.json").read_text())["projects"][0]
    assert status["up_to_date"] is True
    assert "EXAMPLE_DATABASE_URL_FILE" in status["url_source"]
    assert "gitlab:dba-jane pipeline 4242" in deploy.out, "the change log is in the job log"
    again = co.run("deploy:example")
    assert again.code == 0, again.output
    assert "nothing to apply" in again.out


def test_a_generated_deploy_refuses_without_a_url(checkout: Checkout) -> None:
    deploy = checkout.run("deploy:example", EXAMPLE_DATABASE_URL_FILE=None)
    assert deploy.code == 2, deploy.output
    assert "error: example: no database URL configured" in deploy.err
    assert "EXAMPLE_DATABASE_URL_FILE" in deploy.err
    assert not (checkout.path / "var" / "example.sqlite").exists()
