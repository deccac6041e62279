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

from runner.output.fingerprint import fingerprinted, repository_path
from runner.output.results import LintResult

SEVERITY = {"error": "critical", "warning": "major", "info": "info"}
# Code Climate's categories: data loss and broken history are bug risks; the rest
# (locks, rewrites, timeouts) are about the running system.
_BUG_RISK = {"error"}


def report(results: Sequence[LintResult]) -> str:
    """The Code Quality JSON array for every finding of ``results``."""
    issues: list[dict[str, Any]] = []
    for result, item, fingerprint in fingerprinted(results):
        where = f"{result.project} {item.revision}" if item.revision else result.project
        description = f"{where}: {item.message}"
        if item.accepted:
            description += f" [accepted: {item.reason}]"
        issues.append(
            {
                "type": "issue",
                "check_name": item.rule,
                "description": description,
                "categories": ["Bug Risk" if item.severity in _BUG_RISK else "Performance"],
                "severity": "info" if item.accepted else SEVERITY.get(item.severity, "minor"),
                "fingerprint": fingerprint,
                "location": {
                    "path": repository_path(result, item),
                    "lines": {"begin": item.line or 1},
                },
            }
        )
    return json.dumps(issues, indent=2)
