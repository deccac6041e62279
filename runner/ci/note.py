"""The plan of a project as one note on the GitLab merge request, created on the first
pipeline and updated on the next ones, found again by a hidden marker.

GitLab's notes API (``/projects/:id/merge_requests/:iid/notes``: GET to list, POST to
create, PUT to update) needs a token with the ``api`` scope (a project or group access
token with the Reporter role, or a personal one) in ``RUNNER_GITLAB_TOKEN``:
``CI_JOB_TOKEN`` cannot write notes. Without a token, or outside a merge-request
pipeline, the command says so and succeeds: a missing note never fails a pipeline.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import ConfigError, DatabaseUnreachable, RunnerError
from runner.output import redact

TOKEN_VARIABLE = "RUNNER_GITLAB_TOKEN"
# A child pipeline has no CI_MERGE_REQUEST_* variables: the trigger job passes these.
IID_VARIABLES = ("CI_MERGE_REQUEST_IID", "RUNNER_MR_IID")
PROJECT_VARIABLES = ("CI_MERGE_REQUEST_PROJECT_ID", "CI_PROJECT_ID")
MAX_BODY = 1_000_000  # GitLab's note limit; a longer plan is cut, with a pointer
PER_PAGE = 100


class NoteFailed(RunnerError):
    """GitLab answered with an error (exit 3: the service, not the plan, is at fault)."""

    exit_code = DatabaseUnreachable.exit_code


def marker(project: str) -> str:
    return f"<!-- docker-alembic plan: {project} -->"


@dataclass(frozen=True)
class Outcome:
    action: str  # created, updated, skipped
    message: str
    note_id: int | None = None


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str:
    return next((environ[n].strip() for n in names if environ.get(n, "").strip()), "")


def post(project: str, plan_markdown: str, environ: Mapping[str, str]) -> Outcome:
    """Create or update the note of ``project`` on the merge request of this pipeline."""
    token = environ.get(TOKEN_VARIABLE, "").strip()
    iid = _first(environ, IID_VARIABLES)
    api = environ.get("CI_API_V4_URL", "").strip().rstrip("/")
    project_id = _first(environ, PROJECT_VARIABLES)
    if not iid:
        return Outcome("skipped", f"{project}: not a merge-request pipeline: no note posted")
    if not token:
        return Outcome(
            "skipped",
            f"{project}: {TOKEN_VARIABLE} is not set, so the plan is not posted to the merge"
            " request (create a token with the api scope and a masked CI/CD variable of that"
            " name; CI_JOB_TOKEN cannot post notes)",
        )
    redact.register(token)  # never in an error line, whatever GitLab echoes back
    if not api or not project_id:
        raise ConfigError("CI_API_V4_URL and CI_PROJECT_ID are not set: run inside GitLab CI",
                          project=project)  # fmt: skip
    base = f"{api}/projects/{urllib.parse.quote(project_id, safe='')}/merge_requests/{iid}/notes"
    body = _body(project, plan_markdown)
    existing = _find(base, token, marker(project), project)
    if existing is None:
        created = _call("POST", base, token, project, {"body": body})
        return Outcome("created", f"{project}: plan posted to merge request !{iid}",
                       int(created["id"]))  # fmt: skip
    _call("PUT", f"{base}/{existing}", token, project, {"body": body})
    return Outcome("updated", f"{project}: plan note updated on merge request !{iid}", existing)


def _body(project: str, plan_markdown: str) -> str:
    head = marker(project) + "\n"
    text = plan_markdown.strip() + "\n"
    if len(head) + len(text) > MAX_BODY:
        cut = MAX_BODY - len(head) - 200
        text = text[:cut] + "\n\n(cut: the whole plan is in the plan job's artifacts)\n"
    return head + text


def _find(base: str, token: str, mark: str, project: str) -> int | None:
    """The id of the note holding ``mark``, looking through every page."""
    page = 1
    while True:
        query = urllib.parse.urlencode({"per_page": PER_PAGE, "page": page, "sort": "asc"})
        notes = _call("GET", f"{base}?{query}", token, project)
        if not isinstance(notes, list):
            raise NoteFailed(f"GitLab answered the notes list with {type(notes).__name__}",
                             project=project)  # fmt: skip
        for note in notes:
            if isinstance(note, dict) and mark in str(note.get("body", "")):
                return int(note["id"])
        if len(notes) < PER_PAGE:
            return None
        page += 1


def _call(method: str, url: str, token: str, project: str,
          payload: dict[str, Any] | None = None) -> Any:  # fmt: skip
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("PRIVATE-TOKEN", token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    where = url.split("?", 1)[0]
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        hint = ""
        if exc.code in (401, 403):
            hint = f" ({TOKEN_VARIABLE} needs the api scope and at least the Reporter role)"
        raise NoteFailed(f"{method} {where}: HTTP {exc.code} {exc.reason}{hint}",
                         project=project) from exc  # fmt: skip
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NoteFailed(f"{method} {where}: {reason}", project=project) from exc
    except ValueError as exc:
        raise NoteFailed(f"{method} {where}: the answer is not JSON", project=project) from exc
