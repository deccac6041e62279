"""The CI pipelines (.gitlab-ci.yml, Jenkinsfile) and the helpers they share in ci/.

Static checks read both files: stage order, deploy only on the default branch,
one serialized deploy per database, JUnit reports, no secret inline, and every
``python -m runner`` command line parsed by the real CLI. Then the jobs' shell
lines run for real, in bash (GitLab) and sh (Jenkins), on a temp copy of the
repository with a SQLite "production" database given as a URL file.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from ci import changed_projects, require_target
from runner.cli import cli
from runner.project import repository as projects
from tests.databases import ServerPool

REPO = Path(__file__).parent.parent
GITLAB = REPO / ".gitlab-ci.yml"
JENKINS = REPO / "Jenkinsfile"
BIN = Path(sys.executable).parent
STAGES = ["review", "test", "plan", "deploy"]
JENKINS_STAGES = ["Changes", "Review", "Test", "Plan", "Deploy"]
# The verbs each pipeline must call.
PIPELINE_VERBS = {"lint", "test", "plan", "apply", "status", "log"}
PROJECT_NAMES = [p.name for p in projects.discover(REPO)]
# user:password@ in a URL
INLINE_PASSWORD = re.compile(r"://[^/\s:@'\"]+:[^/\s@'\"]+@")


# --------------------------------------------------------------- reading GitLab


@functools.cache
def gitlab() -> dict[str, Any]:
    document = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """GitLab's ``extends``: hashes merge deeply, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def job(name: str) -> dict[str, Any]:
    """Job ``name`` with its ``extends`` chain applied."""
    raw = gitlab()[name]
    assert isinstance(raw, dict), name
    parents = raw.get("extends", [])
    resolved: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        resolved = _merge(resolved, job(parent))
    resolved = _merge(resolved, {k: v for k, v in raw.items() if k != "extends"})
    return resolved


def job_names() -> list[str]:
    """Real jobs: not keywords, not hidden templates."""
    keywords = {"stages", "variables", "workflow", "default", "include", "image", "services"}
    return [k for k in gitlab() if k not in keywords and not k.startswith(".")]


def deploy_jobs() -> list[str]:
    return [name for name in job_names() if job(name).get("stage") == "deploy"]


def shell(name: str, *keys: str) -> str:
    """The shell text of a job's sections (default: before_script and script)."""
    definition = job(name)
    lines: list[str] = []
    for key in keys or ("before_script", "script"):
        lines.extend(definition.get(key, []))
    return "\n".join(lines)


def all_gitlab_shell() -> str:
    return "\n".join(shell(name, "before_script", "script", "after_script") for name in job_names())


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


MAIN_PUSH = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}
BRANCH_PUSH = {**MAIN_PUSH, "CI_COMMIT_BRANCH": "add-index"}
MERGE_REQUEST = {
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_DEFAULT_BRANCH": "main",
    "CI_MERGE_REQUEST_DIFF_BASE_SHA": "0" * 40,
}


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
        command_line = re.sub(r"\$\{?(?:p|PROJECT)\}?", "example", line)
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


PIPELINE_SHELL: dict[str, Callable[[], str]] = {
    "gitlab": all_gitlab_shell,
    "jenkins": all_jenkins_shell,
}


# ===================================================================== static


def test_gitlab_stages_in_order() -> None:
    assert gitlab()["stages"] == STAGES
    stages = {name: job(name).get("stage") for name in job_names()}
    assert set(stages.values()) <= {".pre", *STAGES}, stages
    for stage in STAGES:
        assert stage in stages.values(), f"no job in stage {stage}"
    assert stages["review"] == "review"
    assert stages["test"] == "test"
    assert stages["plan"] == "plan"
    assert stages["changes"] == ".pre"


def test_gitlab_jobs_run_in_the_runner_image() -> None:
    variables = gitlab()["variables"]
    assert variables["RUNNER_ROOT"] == "$CI_PROJECT_DIR"
    assert "docker-alembic" in variables["RUNNER_IMAGE"]
    for name in job_names():
        if not runner_calls(shell(name, "before_script", "script", "after_script")):
            continue
        image = job(name)["image"]
        assert image == {"name": "$RUNNER_IMAGE", "entrypoint": [""]}, name


def test_gitlab_pipelines_run_for_merge_requests_and_branches() -> None:
    rules = gitlab()["workflow"]["rules"]
    assert when(rules, MERGE_REQUEST) == "on_success"
    assert when(rules, MAIN_PUSH) == "on_success"
    assert when(rules, {**BRANCH_PUSH, "CI_OPEN_MERGE_REQUESTS": "dba/db!1"}) is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(MERGE_REQUEST, None, id="merge-request"),
        pytest.param(BRANCH_PUSH, None, id="other-branch"),
        pytest.param(MAIN_PUSH, "on_success", id="default-branch"),
        pytest.param({**MAIN_PUSH, "DEPLOY_MANUAL": "true"}, "manual", id="manual-switch"),
        pytest.param(
            {**MAIN_PUSH, "CI_DEFAULT_BRANCH": "trunk"}, None, id="main-is-not-the-default"
        ),
    ],
)
def test_gitlab_deploy_only_on_the_default_branch(env: dict[str, str], expected: str) -> None:
    assert deploy_jobs()
    for name in deploy_jobs():
        assert when(job(name).get("rules"), env) == expected, name
    for name in set(job_names()) - set(deploy_jobs()):
        assert "resource_group" not in job(name), name
        assert when(job(name).get("rules"), env) == "on_success", name


def test_gitlab_one_serialized_deploy_per_project() -> None:
    assert PROJECT_NAMES, "no project under projects/"
    deployed = {}
    for name in deploy_jobs():
        definition = job(name)
        project = definition["variables"]["PROJECT"]
        deployed[project] = name
        assert name == f"deploy:{project}"
        assert definition["resource_group"] == f"db-{project}"
        assert definition["environment"]["name"] == f"db/{project}"
        assert definition["artifacts"]["when"] == "always"
        calls = [check_call(c) for c in runner_calls(shell(name))]
        # Deploy applies exactly the plan it shows: plan --out, then apply.
        assert [verb for verb, _ in calls] == ["plan", "apply"], name
        assert "--out" in calls[0][1]
        after = [check_call(c) for c in runner_calls(shell(name, "after_script"))]
        assert ("status", frozenset({"--json"})) in after
        assert ("log", frozenset({"--limit"})) in after
    assert sorted(deployed) == PROJECT_NAMES, "add a deploy:<project> job for each project"


@pytest.mark.parametrize(
    ("name", "verb", "pattern"),
    [("review", "lint", "reports/lint-*.xml"), ("test", "test", "reports/roundtrip-*.xml")],
)
def test_gitlab_junit_reports(name: str, verb: str, pattern: str) -> None:
    artifacts = job(name)["artifacts"]
    assert artifacts["reports"]["junit"] == pattern
    assert artifacts["when"] == "always", "failed checks must still publish their report"
    written = [c[c.index("--junit") + 1] for c in runner_calls(shell(name)) if c[0] == verb]
    assert written, f"{name} never runs runner {verb} --junit"
    for path in written:
        assert fnmatch.fnmatch(path, pattern), (path, pattern)


def test_gitlab_plan_artifacts_for_reviewers() -> None:
    calls = [check_call(c) for c in runner_calls(shell("plan"))]
    assert ("plan", frozenset()) in calls
    assert ("plan", frozenset({"--json"})) in calls
    assert job("plan")["artifacts"]["expose_as"]
    assert ("plan", frozenset({"--format"})) in calls  # the merge-request comment


def test_no_secret_values_inline() -> None:
    for path in (GITLAB, JENKINS):
        assert not INLINE_PASSWORD.search(path.read_text(encoding="utf-8")), path.name
    blocks = [gitlab()["variables"]] + [job(name).get("variables", {}) for name in job_names()]
    for block in blocks:
        for key in block:
            assert not re.search(r"_DATABASE_URL(_FILE)?$|PASSWORD|SECRET|TOKEN", key), (
                f"{key} must come from the CI settings, not the pipeline file"
            )
    # Jenkins: secrets only through withCredentials.
    assert not re.search(r"_DATABASE_URL\w*\s*=", jenkinsfile())


@pytest.mark.parametrize("pipeline", sorted(PIPELINE_SHELL))
def test_every_runner_call_is_a_real_verb_with_real_options(pipeline: str) -> None:
    calls = runner_calls(PIPELINE_SHELL[pipeline]())
    verbs = {check_call(call)[0] for call in calls}
    assert verbs >= PIPELINE_VERBS, PIPELINE_VERBS - verbs


def test_both_pipelines_run_the_runner_the_same_way() -> None:
    gitlab_calls = {check_call(c) for c in runner_calls(all_gitlab_shell())}
    jenkins_calls = {check_call(c) for c in runner_calls(PIPELINE_SHELL["jenkins"]())}
    assert gitlab_calls == jenkins_calls


def test_runner_calls_are_parsed_and_checked() -> None:
    """The checks above can fail: a typo in a verb or an option is caught."""
    assert runner_calls('python -m runner plan "$p" --json > "reports/plan-$p.json"') == [
        ["plan", "example", "--json"]
    ]
    assert runner_calls("  # python -m runner plan x --nope") == []
    with pytest.raises(AssertionError, match="not a runner verb"):
        check_call(["deploy", "example"])
    with pytest.raises(AssertionError, match="--jsn"):
        check_call(["status", "example", "--jsn"])
    with pytest.raises(AssertionError, match="oracle"):
        check_call(["test", "example", "--db", "oracle"])


def test_jenkinsfile_structure() -> None:
    text = jenkinsfile()
    stages = jenkins_stages()
    assert list(stages) == JENKINS_STAGES
    assert "disableConcurrentBuilds()" in _block(text, text.index("options"))
    deploy = stages["Deploy"]
    assert re.search(r"when\s*\{[^}]*\bbranch 'main'", deploy)
    assert 'lock(resource: "db-${p}")' in deploy
    assert re.search(r"withCredentials\(\[file\(credentialsId: \"database-url-\$\{p\}\"", deploy)
    assert "variable: urlFileVariable(p)" in deploy
    assert "toUpperCase().replace('-', '_') + '_DATABASE_URL_FILE'" in text
    for name in ("Review", "Test", "Plan", "Deploy"):
        docker = _block(stages[name], stages[name].index("docker"))
        assert "args '--entrypoint='" in docker, name
        assert "RUNNER_IMAGE" in docker, name
        assert "branch 'main'" not in stages[name] or name == "Deploy"
    post = _block(text, text.index("post {"))
    always = _block(post, post.index("always"))
    assert "archiveArtifacts" in always
    junit = re.search(r"junit [^\n]*testResults: '([^']+)'", always)
    assert junit
    patterns = [p.strip() for p in junit[1].split(",")]
    for verb in ("lint", "test"):
        written = [
            c[c.index("--junit") + 1]
            for c in runner_calls(PIPELINE_SHELL["jenkins"]())
            if c[0] == verb
        ]
        assert written
        assert all(any(fnmatch.fnmatch(w, p) for p in patterns) for w in written), written


# ================================================================== execution


@dataclass
class JobRun:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


def _expand(value: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], m[0]), value)


def _base_env(workdir: Path) -> dict[str, str]:
    return {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "CI": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _bash(script: str, workdir: Path, env: Mapping[str, str]) -> JobRun:
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=workdir,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return JobRun(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class Checkout:
    """A temp copy of the repository, committed, plus a SQLite 'production' database."""

    path: Path
    database: Path
    url_file: Path
    commit: str


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    path = tmp_path / "builds" / "dba" / "db"
    path.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("projects", "ci"):
        shutil.copytree(REPO / folder, path / folder, ignore=ignore)
    for name in (".gitlab-ci.yml", "Jenkinsfile"):
        shutil.copy2(REPO / name, path / name)
    git_env = {
        **_base_env(path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *argv], cwd=path, env=git_env, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()
    database = tmp_path / "prod" / "example.sqlite"
    database.parent.mkdir()
    url_file = tmp_path / "secrets" / "EXAMPLE_DATABASE_URL_FILE"
    url_file.parent.mkdir()
    url_file.write_text(f"sqlite:///{database}\n", encoding="utf-8")
    return Checkout(path, database, url_file, commit)


def gitlab_env(co: Checkout, name: str, **overrides: str | None) -> dict[str, str]:
    """What a GitLab runner would give job ``name`` on a push to main."""
    env = {
        **_base_env(co.path),
        "GITLAB_CI": "true",
        "CI_PROJECT_DIR": str(co.path),
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_BRANCH": "main",
        "CI_COMMIT_SHA": co.commit,
        "CI_PIPELINE_SOURCE": "push",
        "CI_PIPELINE_ID": "4242",
        "CI_JOB_ID": "77",
        "CI_JOB_NAME": name,
        "CI_JOB_URL": "https://gitlab.example.com/dba/db/-/jobs/77",
        "GITLAB_USER_LOGIN": "dba-jane",
        # the file-type CI/CD variable: GitLab writes the value to a file, passes its path
        "EXAMPLE_DATABASE_URL_FILE": str(co.url_file),
    }
    for block in (gitlab()["variables"], job(name).get("variables", {})):
        for key, value in block.items():
            env[key] = _expand(str(value), env)
    merged: dict[str, str | None] = {**env, **overrides}  # None: not set at all
    return {k: v for k, v in merged.items() if v is not None}


def run_gitlab_job(co: Checkout, name: str, **overrides: str | None) -> JobRun:
    """before_script + script in one bash (as GitLab does), then after_script apart."""
    env = gitlab_env(co, name, **overrides)
    result = _bash(shell(name), co.path, env)
    after = shell(name, "after_script")
    if after:
        tail = _bash(after, co.path, env)
        result = JobRun(result.code, result.out + tail.out, result.err + tail.err)
    return result


def _current(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version_example")]


def _heads() -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "--root", str(REPO), "heads", "example", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [r["revision"] for r in json.loads(proc.stdout)["projects"][0]["revisions"]]


@pytest.mark.slow
def test_gitlab_jobs_run_end_to_end(checkout: Checkout) -> None:
    co = checkout
    reports = co.path / "reports"

    changes = run_gitlab_job(co, "changes")
    assert changes.code == 0, changes.output
    assert (reports / "projects.txt").read_text().split() == PROJECT_NAMES

    review = run_gitlab_job(co, "review")
    assert review.code == 0, review.output
    junit = (reports / "lint-example.xml").read_text()
    assert "<testsuite" in junit
    assert "example" in junit

    plan = run_gitlab_job(co, "plan")
    assert plan.code == 0, plan.output
    sql = (reports / "plan-example.sql").read_text()
    assert "CREATE TABLE foo" in sql
    assert str(co.database) in sql, "the plan must be made against the URL file's database"
    document = json.loads((reports / "plan-example.json").read_text())
    assert document["projects"][0]["before"] == []
    assert document["projects"][0]["after"] == _heads()
    assert "EXAMPLE_DATABASE_URL_FILE" in plan.err
    assert "CREATE TABLE foo" in plan.out, "the plan is shown in the job log too"

    deploy = run_gitlab_job(co, "deploy:example")
    assert deploy.code == 0, deploy.output
    assert _current(co.database) == _heads()
    assert not (co.path / "var" / "example.sqlite").exists(), "deployed to the embedded default"
    status = json.loads((reports / "status-example.json").read_text())["projects"][0]
    assert status["up_to_date"] is True
    assert "EXAMPLE_DATABASE_URL_FILE" in status["url_source"]
    assert "gitlab:dba-jane pipeline 4242" in deploy.out, "the change log is in the job log"
    assert "CREATE TABLE foo" in (reports / "deploy-example.sql").read_text()

    again = run_gitlab_job(co, "deploy:example")
    assert again.code == 0, again.output
    assert "nothing to apply" in again.out


def test_gitlab_plan_warns_without_a_url(checkout: Checkout) -> None:
    co = checkout
    assert run_gitlab_job(co, "changes").code == 0
    plan = run_gitlab_job(co, "plan", EXAMPLE_DATABASE_URL_FILE=None)
    assert plan.code == 0, plan.output
    assert "warning: example: no database URL configured" in plan.err
    assert "EXAMPLE_DATABASE_URL_FILE" in plan.err


def test_gitlab_deploy_refuses_without_a_url(checkout: Checkout) -> None:
    deploy = run_gitlab_job(checkout, "deploy:example", EXAMPLE_DATABASE_URL_FILE=None)
    assert deploy.code == 2, deploy.output
    assert "error: example: no database URL configured" in deploy.err
    assert "EXAMPLE_DATABASE_URL_FILE" in deploy.err
    assert not (checkout.path / "var" / "example.sqlite").exists()


@pytest.mark.slow
def test_gitlab_deploy_fails_with_the_runner_exit_code(checkout: Checkout) -> None:
    co = checkout
    assert run_gitlab_job(co, "deploy:example").code == 0

    # 5: another session holds the database (SQLite's write lock) past the timeout.
    holder = sqlite3.connect(co.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        locked = run_gitlab_job(co, "deploy:example", RUNNER_LOCK_TIMEOUT="1")
    finally:
        holder.close()
    assert locked.code == 5, locked.output
    assert "error:" in locked.err

    # 4: an applied revision edited afterwards; upgrade refuses, the log still shows.
    revision = next((co.path / "projects/example/versions").glob("*_create_foo.py"))
    revision.write_text(revision.read_text() + "\n# edited after it was applied\n")
    refused = run_gitlab_job(co, "deploy:example")
    assert refused.code == 4, refused.output
    assert re.search(r"^error: .*example", refused.err, re.MULTILINE), refused.err
    assert "upgrade" in refused.out, "after_script still prints the change log"


@pytest.mark.postgresql
def test_gitlab_test_job_round_trips_on_postgresql(checkout: Checkout, servers: ServerPool) -> None:
    admin = servers.admin_url("postgresql").render_as_string(hide_password=False)
    assert run_gitlab_job(checkout, "changes").code == 0
    result = run_gitlab_job(checkout, "test", RUNNER_TEST_POSTGRES_URL=admin)
    assert result.code == 0, result.output
    junit = (checkout.path / "reports" / "roundtrip-example.xml").read_text()
    assert "<testsuite" in junit
    assert "<failure" not in junit


def _sh(script: str, workdir: Path, env: Mapping[str, str]) -> JobRun:
    """As Jenkins runs a sh step: /bin/sh -xe."""
    proc = subprocess.run(
        ["sh", "-xe", "-c", script],
        cwd=workdir,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return JobRun(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.slow
def test_jenkins_steps_run_end_to_end(checkout: Checkout) -> None:
    co = checkout
    stages = jenkins_stages()
    env = {
        **_base_env(co.path),
        "WORKSPACE": str(co.path),
        "RUNNER_ROOT": str(co.path),
        "RUNNER_LOCK_TIMEOUT": "300",
        "BRANCH_NAME": "main",
        "JENKINS_URL": "https://jenkins.example.com/",
        "GIT_COMMIT": co.commit,
        "JOB_NAME": "dba/db/main",
        "BUILD_NUMBER": "17",
        "BUILD_URL": "https://jenkins.example.com/job/dba/job/db/job/main/17/",
        "BUILD_USER_ID": "dba-jane",
    }

    def step(stage: str, extra: Mapping[str, str] | None = None, index: int = 0) -> JobRun:
        result = _sh(jenkins_sh(stages[stage])[index], co.path, {**env, **(extra or {})})
        assert result.code == 0, f"{stage}: {result.output}"
        return result

    step("Changes")
    names = (co.path / "reports" / "projects.txt").read_text().split()
    assert names == PROJECT_NAMES
    step("Review")
    assert (co.path / "reports" / "lint-example.xml").is_file()
    # withCredentials([file(...)]) and withEnv(["PROJECT=..."])
    secret = {"EXAMPLE_DATABASE_URL_FILE": str(co.url_file), "PROJECT": "example"}
    for name in names:
        step("Plan", {**secret, "PROJECT": name})
    assert "CREATE TABLE foo" in (co.path / "reports" / "plan-example.sql").read_text()
    step("Deploy", secret, 0)
    log = step("Deploy", secret, 1)
    assert _current(co.database) == _heads()
    assert "jenkins:dba-jane" in log.out, "the change log is in the build log"


# =========================================================== changed_projects


@dataclass
class Repo:
    path: Path

    def git(self, *argv: str) -> str:
        env = {
            **_base_env(self.path),
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        }
        return subprocess.run(
            ["git", *argv], cwd=self.path, env=env, capture_output=True, text=True, check=True
        ).stdout

    def write(self, relative: str, text: str = "x\n") -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def changed(self, *argv: str) -> tuple[list[str], str]:
        """Run the script as CI does; return the names and the stderr."""
        proc = subprocess.run(
            [sys.executable, str(REPO / "ci" / "changed_projects.py"), *argv],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout.split(), proc.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main: projects alpha, beta, gamma (and a non-project folder), a runner, a README."""
    r = Repo(tmp_path / "repo")
    r.path.mkdir()
    r.git("init", "-q", "-b", "main")
    for name in ("alpha", "beta", "gamma"):
        r.write(f"projects/{name}/alembic.ini", "[alembic]\n")
        r.write(f"projects/{name}/versions/001_init.py")
    r.write("projects/shared/helpers.py")  # no alembic.ini: not a project
    r.write("projects/README.md")
    r.write("runner/cli.py")
    r.write("README.md")
    r.commit("init")
    r.git("checkout", "-q", "-b", "feature")
    return r


def test_changed_projects_two_projects(repo: Repo) -> None:
    repo.write("projects/alpha/versions/002_add_index.py")
    repo.write("projects/beta/alembic.ini", "[alembic]\nversion_table = v\n")
    repo.write("projects/shared/helpers.py", "y\n")
    repo.write("README.md", "docs\n")
    repo.commit("two projects")
    # main moves on after the fork: not this branch's change (three-dot diff)
    repo.git("checkout", "-q", "main")
    repo.write("projects/gamma/versions/002_other.py")
    repo.commit("gamma on main")
    repo.git("checkout", "-q", "feature")

    names, why = repo.changed("--base", "main")
    assert names == ["alpha", "beta"]
    assert "alpha, beta" in why
    assert changed_projects.select(repo.path, "main").projects == ["alpha", "beta"]


def test_changed_projects_runner_change_selects_every_project(repo: Repo) -> None:
    repo.write("projects/alpha/versions/002_add_index.py")
    repo.write("runner/cli.py", "changed\n")
    repo.commit("runner")
    names, why = repo.changed("--base", "main")
    assert names == ["alpha", "beta", "gamma"]
    assert "runner/cli.py" in why


@pytest.mark.parametrize("path", [".gitlab-ci.yml", "Jenkinsfile", "ci/x.py", "pyproject.toml"])
def test_changed_projects_pipeline_change_selects_every_project(repo: Repo, path: str) -> None:
    repo.write(path)
    repo.commit("ci")
    assert repo.changed("--base", "main")[0] == ["alpha", "beta", "gamma"]


def test_changed_projects_nothing_and_removed(repo: Repo) -> None:
    repo.write("README.md", "docs only\n")
    repo.commit("docs")
    names, why = repo.changed("--base", "main")
    assert names == []
    assert "no project" in why
    repo.git("rm", "-q", "-r", "projects/gamma")
    repo.write("projects/beta/versions/002.py")
    repo.commit("drop gamma")
    names, why = repo.changed("--base", "main")
    assert names == ["beta"]
    assert "gamma" in why


def test_changed_projects_falls_back_to_every_project(repo: Repo) -> None:
    repo.write("projects/alpha/versions/002_add_index.py")
    repo.commit("alpha")
    every = ["alpha", "beta", "gamma"]
    assert repo.changed()[0] == every  # default branch: no base
    assert repo.changed("--base", "")[0] == every  # ${CI_MERGE_REQUEST_DIFF_BASE_SHA:-}
    assert repo.changed("--all", "--base", "main")[0] == every
    names, why = repo.changed("--base", "origin/not-fetched")
    assert names == every
    assert "cannot diff" in why
    assert repo.changed("--base", "main")[0] == ["alpha"]


def test_changed_projects_outside_git(tmp_path: Path) -> None:
    (tmp_path / "projects" / "solo").mkdir(parents=True)
    (tmp_path / "projects" / "solo" / "alembic.ini").write_text("[alembic]\n")
    selection = changed_projects.select(tmp_path, "main")
    assert selection.projects == ["solo"]
    assert "cannot diff" in selection.reason


def test_changed_projects_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "ci" / "changed_projects.py"), "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "no projects/ folder" in proc.stderr


def test_require_target_names_the_variable() -> None:
    assert require_target.env_stem("billing-eu") == "BILLING_EU"
