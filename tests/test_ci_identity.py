"""Who the change log records for a Jenkins build: the person who started it
(BUILD_USER_ID), a pull request's author, else the commit's author (never ``jenkins:?``),
and who approved a gated deploy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from runner.run import provenance


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Jane DBA", "GIT_AUTHOR_EMAIL": "jane@example.com",
           "GIT_COMMITTER_NAME": "CI", "GIT_COMMITTER_EMAIL": "ci@example.com"}  # fmt: skip
    for argv in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *argv], cwd=tmp_path, env=env, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    return tmp_path, head


JENKINS = {"JENKINS_URL": "https://ci/", "JOB_NAME": "dba/db/main", "BUILD_NUMBER": "9"}


def test_the_person_of_a_jenkins_build(repo: tuple[Path, str]) -> None:
    root, head = repo

    def who(**env: str) -> str | None:
        return provenance.read({**JENKINS, **env}, root).ci_identity

    assert who(BUILD_USER_ID="dba-joe") == "jenkins:dba-joe dba/db/main#9"
    assert who(CHANGE_AUTHOR="pr-author") == "jenkins:pr-author dba/db/main#9"
    # A branch build started by a push: the commit's author, not "?".
    assert who(GIT_COMMIT=head) == "jenkins:jane@example.com dba/db/main#9"
    assert who() == "jenkins:jane@example.com dba/db/main#9"
    assert who(BUILD_USER_ID="dba-joe", RUNNER_APPROVED_BY="lead") == (
        "jenkins:dba-joe dba/db/main#9 approved by lead"
    )


def test_outside_git_the_person_is_unknown(tmp_path: Path) -> None:
    assert provenance.read(JENKINS, tmp_path).ci_identity == "jenkins:? dba/db/main#9"
