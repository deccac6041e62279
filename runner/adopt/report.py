"""Drift for CI: GitLab Code Quality issues and JUnit test cases.

Code Quality (``--format codeclimate``) is a JSON list of issues, one per object
changed outside the migrations on one target, each with ``description``,
``check_name`` (``drift-added``, ``drift-removed``, ``drift-altered``),
``fingerprint`` (stable across runs: project, target, object and change),
``severity`` (``major``; ``critical`` for a removed object) and ``location``:
the project's ``targets.toml`` at the line declaring the target's environment or
group (line 1 without one), or the project's ``versions/`` folder when there is
no targets file. JUnit: one test case per target, failed when it drifted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from runner.adopt.results import DriftResult
from runner.output import junit, redact
from runner.project.targets import TARGETS_FILE


def _location(project_dir: Path, root: Path, target: str | None) -> dict[str, object]:
    targets = project_dir / TARGETS_FILE
    if not targets.is_file():
        return {"path": _relative(project_dir / "versions", root), "lines": {"begin": 1}}
    line = 1
    if target:
        section = target.split("/", 1)[0]
        pattern = re.compile(rf"^\s*\[(env|group)\.\"?{re.escape(section)}\"?\]\s*$")
        for number, text in enumerate(targets.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.match(text):
                line = number
                break
    return {"path": _relative(targets, root), "lines": {"begin": line}}


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def codeclimate(results: Sequence[DriftResult], root: Path) -> str:
    """The Code Quality report of these drift results (``[]`` without drift)."""
    issues = []
    for result in results:
        where = _location(root / "projects" / result.project, root, result.target)
        label = f"{result.project}@{result.target}" if result.target else result.project
        for change in result.changes:
            key = f"{result.project}\x1f{result.target or ''}\x1f{change.object}\x1f{change.change}"
            issues.append({
                "type": "issue",
                "description": f"{label}: {change.line()} outside the migrations",
                "check_name": f"drift-{change.change}",
                "categories": ["Bug Risk"],
                "fingerprint": hashlib.sha256(key.encode()).hexdigest(),
                "severity": "critical" if change.change == "removed" else "major",
                "location": where,
            })  # fmt: skip
    return redact.scrub(json.dumps(issues, indent=2))


def junit_suites(results: Sequence[DriftResult]) -> list[junit.Suite]:
    """One testsuite per project, one testcase per target: failed when it drifted."""
    suites: dict[str, junit.Suite] = {}
    for r in results:
        failures = [junit.Failure(f"{len(r.changes)} object(s) changed outside the migrations",
                                  "drift", "\n".join(c.line() for c in r.changes))] if (
            r.drifted) else []  # fmt: skip
        case = junit.Case(f"drift.{r.project}", r.target or "default", failures=failures,
                          output=r.note)  # fmt: skip
        suites.setdefault(r.project, junit.Suite(r.project)).cases.append(case)
    return list(suites.values())
