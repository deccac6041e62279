"""``runner lint --format codeclimate``: a GitLab Code Quality report.

GitLab reads a JSON array of Code Climate issues from a job's
``artifacts: reports: codequality:`` file and shows them on the merge request.
Each issue carries the fields GitLab uses (``description``, ``check_name``,
``fingerprint``, ``severity``, ``location.path``, ``location.lines.begin``) plus the
Code Climate ``type`` and ``categories``.

Severities map as: ``error`` -> ``critical``, ``warning`` -> ``major``,
``info`` -> ``info``. A finding accepted by a ``# lint: accept`` marker is
still reported, as ``info``, with the marker's reason, so reviewers see risks
accepted in the merge request. Fingerprints: :mod:`runner.output.fingerprint`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from runner.output import redact
from runner.output.fingerprint import fingerprinted, repository_path
from runner.output.results import LintResult

SEVERITY = {"error": "critical", "warning": "major", "info": "info"}
# Code Climate's categories: data loss and broken history are bug risks; the rest
# (locks, rewrites, timeouts) are about the running system.
_BUG_RISK = {"error"}


def issue(check_name: str, description: str, severity: str, fingerprint: str, path: str,
          line: int, category: str) -> dict[str, Any]:  # fmt: skip
    """One Code Climate issue, as GitLab reads it (lint findings and drift both use it)."""
    return {
        "type": "issue",
        "check_name": check_name,
        "description": description,
        "categories": [category],
        "severity": severity,
        "fingerprint": fingerprint,
        "location": {"path": path, "lines": {"begin": line}},
    }


def dumps(issues: Sequence[dict[str, Any]]) -> str:
    """The report: a JSON array, every password the runner knows scrubbed."""
    return redact.scrub(json.dumps(list(issues), indent=2))


def report(results: Sequence[LintResult]) -> str:
    """The Code Quality JSON array for every finding of ``results``."""
    issues: list[dict[str, Any]] = []
    for result, item, fingerprint in fingerprinted(results):
        where = f"{result.project} {item.revision}" if item.revision else result.project
        description = f"{where}: {item.message}"
        if item.accepted:
            description += f" [accepted: {item.reason}]"
        severity = "info" if item.accepted else SEVERITY.get(item.severity, "minor")
        category = "Bug Risk" if item.severity in _BUG_RISK else "Performance"
        issues.append(issue(item.rule, description, severity, fingerprint,
                            repository_path(result, item), item.line or 1, category))  # fmt: skip
    return dumps(issues)
