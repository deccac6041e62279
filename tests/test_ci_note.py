"""``runner ci gitlab-note``: the plan as one note on the merge request, against a small
GitLab notes API served on loopback (list with pages, create, update)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import Outcome

TOKEN = "glpat-not-a-real-token-0123456789"
BASE = "/api/v4/projects/42/merge_requests/7/notes"


@dataclass
class FakeGitLab:
    """The notes of one merge request and every request made."""

    notes: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""


def _handler(state: FakeGitLab) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:  # quiet
            pass

        def reply(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorized(self) -> bool:
            self.requests.append((self.command, self.path))
            if self.headers.get("PRIVATE-TOKEN") != TOKEN:
                self.reply(401, {"message": "401 Unauthorized"})
                return False
            return True

        @property
        def requests(self) -> list[tuple[str, str]]:
            return state.requests

        def body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length", "0"))
            found = json.loads(self.rfile.read(length))
            assert isinstance(found, dict)
            return found

        def do_GET(self) -> None:
            if not self.authorized():
                return
            url = urlparse(self.path)
            if url.path != BASE:
                self.reply(404, {"message": "404 Not found"})
                return
            query = parse_qs(url.query)
            per_page = int(query.get("per_page", ["20"])[0])
            page = int(query.get("page", ["1"])[0])
            self.reply(200, state.notes[(page - 1) * per_page : page * per_page])

        def do_POST(self) -> None:
            if not self.authorized():
                return
            if urlparse(self.path).path != BASE:
                self.reply(404, {"message": "404 Not found"})
                return
            note = {"id": 1000 + len(state.notes), "body": self.body()["body"]}
            state.notes.append(note)
            self.reply(201, note)

        def do_PUT(self) -> None:
            if not self.authorized():
                return
            note_id = int(urlparse(self.path).path.rsplit("/", 1)[-1])
            for note in state.notes:
                if note["id"] == note_id:
                    note["body"] = self.body()["body"]
                    self.reply(200, note)
                    return
            self.reply(404, {"message": "404 Not found"})

    return Handler


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    state = FakeGitLab()
    # Other people's notes, more than one page: the command must look through them all.
    state.notes = [{"id": i, "body": f"looks good {i}"} for i in range(1, 131)]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "projects").mkdir()
    subprocess.run([sys.executable, "-m", "runner", "--root", str(tmp_path), "new", "alpha"],
                   check=True, capture_output=True)  # fmt: skip
    return tmp_path


def note(repo: Path, gitlab: FakeGitLab, plan: str, **extra: str | None) -> Outcome:
    (repo / "plan.md").write_text(plan, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"RUNNER_ROOT": str(repo), "CI_API_V4_URL": gitlab.url, "CI_PROJECT_ID": "42",
                "CI_MERGE_REQUEST_IID": "7", "RUNNER_GITLAB_TOKEN": TOKEN})  # fmt: skip
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "ci", "gitlab-note", "alpha", "--plan", "plan.md"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def ours(gitlab: FakeGitLab) -> list[dict[str, Any]]:
    return [n for n in gitlab.notes if "<!-- docker-alembic plan: alpha -->" in n["body"]]


def test_first_run_creates_the_note_second_updates_it(repo: Path, gitlab: FakeGitLab) -> None:
    first = note(repo, gitlab, "## alpha\n\nCREATE TABLE one;\n")
    assert first.code == 0, first.output
    assert "plan posted to merge request !7" in first.err
    [created] = ours(gitlab)
    assert "CREATE TABLE one;" in created["body"]
    assert len(gitlab.notes) == 131

    second = note(repo, gitlab, "## alpha\n\nCREATE TABLE two;\n")
    assert second.code == 0, second.output
    assert "plan note updated on merge request !7" in second.err
    [updated] = ours(gitlab)
    assert updated["id"] == created["id"]
    assert "CREATE TABLE two;" in updated["body"]
    assert "CREATE TABLE one;" not in updated["body"]
    assert len(gitlab.notes) == 131, "updated, not posted again"
    methods = [method for method, _ in gitlab.requests]
    assert methods.count("POST") == 1
    assert methods.count("PUT") == 1
    for outcome in (first, second):
        assert TOKEN not in outcome.output


def test_without_a_token_it_says_so_and_succeeds(repo: Path, gitlab: FakeGitLab) -> None:
    outcome = note(repo, gitlab, "plan\n", RUNNER_GITLAB_TOKEN=None)
    assert outcome.code == 0, outcome.output
    assert "RUNNER_GITLAB_TOKEN is not set" in outcome.err
    assert "CI_JOB_TOKEN cannot post notes" in outcome.err
    assert gitlab.requests == []
    outside = note(repo, gitlab, "plan\n", CI_MERGE_REQUEST_IID=None)
    assert outside.code == 0
    assert "not a merge-request pipeline" in outside.err
    assert gitlab.requests == []


def test_a_refused_token_fails_in_one_line(repo: Path, gitlab: FakeGitLab) -> None:
    outcome = note(repo, gitlab, "plan\n", RUNNER_GITLAB_TOKEN="glpat-wrong-token-98765")
    assert outcome.code == 3, outcome.output
    [line] = outcome.err.splitlines()
    assert line.startswith("error: alpha: GET ")
    assert "HTTP 401" in line
    assert "api scope" in line
    assert "wrong-token" not in outcome.output
    assert ours(gitlab) == []
