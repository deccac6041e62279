"""Checkouts older than the database they deploy to: refused in one line, exit 4.

A merge request that forked before another change to the project was deployed, and an
older pipeline's deploy running after a newer one's, both meet a database this checkout
cannot plan from. Before this was handled, plan failed with exit 2 ("database revision X
is not reachable in this repository"), as if the repository were broken, and an older
pipeline's deploy passed silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Outcome


@dataclass
class Checkout:
    root: Path
    database: Path

    def git(self, *argv: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
        return subprocess.run(["git", *argv], cwd=self.root, env=env, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def runner(self, *args: str, commit: str | None = None, pipeline: str = "1") -> Outcome:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        env.update({"RUNNER_ROOT": str(self.root), "ALPHA_DATABASE_URL": f"sqlite:///{self.database}",
                    "BETA_DATABASE_URL": f"sqlite:///{self.database.with_name('beta.sqlite')}",
                    "GITLAB_CI": "true", "CI_PIPELINE_ID": pipeline,
                    "GITLAB_USER_LOGIN": "dba-jane", "CI_DEFAULT_BRANCH": "main"})  # fmt: skip
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.root, capture_output=True,
                              text=True, check=False).stdout.strip()  # fmt: skip
        env["CI_COMMIT_SHA"] = commit or head
        proc = subprocess.run([sys.executable, "-m", "runner", *args], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        return Outcome(proc.returncode, proc.stdout, proc.stderr)

    def revision(self, project: str, message: str) -> str:
        done = self.runner("revision", project, "-m", message)
        assert done.code == 0, done.output
        heads = json.loads(self.runner("heads", project, "--json").out)
        return str(heads["projects"][0]["revisions"][0]["revision"])


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    co = Checkout(tmp_path / "repo", tmp_path / "db" / "alpha.sqlite")
    co.root.mkdir()
    co.database.parent.mkdir()
    co.git("init", "-q", "-b", "main")
    (co.root / "projects").mkdir()
    for name in ("alpha", "beta"):
        assert co.runner("new", name).code == 0
        co.revision(name, "one")
    co.commit("two projects")
    return co


def _error_lines(outcome: Outcome) -> list[str]:
    return [line for line in outcome.err.splitlines() if line.startswith("error:")]


def test_a_branch_behind_the_database_is_refused_in_one_line(checkout: Checkout) -> None:
    co = checkout
    co.git("branch", "feature")  # forks here, before r2
    r2 = co.revision("alpha", "two")
    newer = co.commit("alpha two")
    assert co.runner("upgrade", "alpha", commit=newer).code == 0
    assert co.runner("upgrade", "beta", commit=newer).code == 0

    co.git("checkout", "-q", "feature")
    for argv in (["plan", "alpha"], ["plan", "alpha", "--out", "p.plan"], ["upgrade", "alpha"]):
        outcome = co.runner(*argv)
        assert outcome.code == 4, (argv, outcome.output)  # was 2: "not reachable"
        errors = _error_lines(outcome)
        assert len(errors) == 1, outcome.err
        assert errors[0].startswith("error: alpha: the database is ahead of this branch:")
        assert r2 in errors[0]
        assert "rebase or merge main" in errors[0]
        assert "not reachable" not in outcome.err

    # Over every project: the one this branch is behind on is refused, the other planned.
    everything = co.runner("plan", "--all")
    assert everything.code not in (0, 2), everything.output
    assert "the database is ahead of this branch" in everything.output
    assert "beta" in everything.out
    assert co.runner("plan", "beta").code == 0  # a project this branch does not touch


def test_an_older_pipeline_deploying_after_a_newer_one_is_refused(checkout: Checkout) -> None:
    co = checkout
    r2 = co.revision("alpha", "two")
    older = co.commit("alpha two")  # pipeline 1
    (co.root / "README.md").write_text("docs\n")
    newer = co.commit("docs")  # pipeline 2, which deploys first

    done = co.runner("upgrade", "alpha", commit=newer, pipeline="2")
    assert done.code == 0, done.output

    co.git("checkout", "-q", older)
    late = co.runner("upgrade", "alpha", commit=older, pipeline="1")
    assert late.code == 4, late.output  # was 0: "nothing to apply", a silent pass
    errors = _error_lines(late)
    assert len(errors) == 1, late.err
    assert "a newer deploy already ran" in errors[0]
    assert newer[:12] in errors[0]
    assert older[:12] in errors[0]
    assert "gitlab:dba-jane pipeline 2" in errors[0]

    # The deploy job's way: plan --out, then apply; apply refuses the same way.
    plan = co.runner("plan", "alpha", "--out", "deploy.plan", commit=older)
    assert plan.code == 0, plan.output
    applied = co.runner("apply", "deploy.plan", commit=older)
    assert applied.code == 4, applied.output
    assert "a newer deploy already ran" in applied.err

    # The newest pipeline itself, run again, is fine; so is a later one.
    co.git("checkout", "-q", "main")
    assert co.runner("upgrade", "alpha", commit=newer).code == 0
    assert r2 in co.runner("current", "alpha").out
