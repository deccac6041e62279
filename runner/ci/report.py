"""The ``runner ci`` verbs as plain functions: select the projects, describe them,
render the answer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from runner.ci import changed as changes
from runner.ci import gitlab as child
from runner.ci.model import CiProject, describe_or_problem
from runner.output.results import SCHEMA_VERSION


def selection(root: Path, since: str | None, environ: Mapping[str, str]) -> changes.Selection:
    base = changes.default_base(environ) if since is None else since
    return changes.select(root, base)


def projects(root: Path, names: list[str]) -> list[CiProject]:
    return [describe_or_problem(root, name) for name in names]


def changed(root: Path, since: str | None, environ: Mapping[str, str],
            as_json: bool) -> tuple[str, str]:  # fmt: skip
    """The selected names (one per line) or a JSON document, and why they were selected."""
    chosen = selection(root, since, environ)
    if not as_json:
        return "\n".join(chosen.projects), chosen.reason
    document = {
        "schema_version": SCHEMA_VERSION,
        "command": "ci changed",
        "reason": chosen.reason,
        "projects": [p.to_dict() for p in projects(root, chosen.projects)],
    }
    return json.dumps(document, indent=2), chosen.reason


def gitlab(root: Path, since: str | None, environ: Mapping[str, str],
           services: bool) -> tuple[str, str]:  # fmt: skip
    """The child pipeline's YAML and why these projects."""
    chosen = selection(root, since, environ)
    options = child.Options.from_env(environ, services, chosen.reason)
    return child.render(projects(root, chosen.projects), options), chosen.reason
