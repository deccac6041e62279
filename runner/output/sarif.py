"""``runner lint --format sarif``: a SARIF 2.1.0 log, for GitHub code scanning and others.

One run, tool ``runner lint``, whose ``tool.driver.rules`` is the whole rule
registry (id, short and full description, help with the safe rewrite, default
level), and one result per finding: ``ruleId``, ``level``, message, the file
relative to the repository root with its start line, and
``partialFingerprints`` (see :mod:`runner.output.fingerprint`). A finding accepted
by a marker is a result with a ``suppressions`` entry (kind ``inSource``, the
marker's reason as justification), which code scanning shows as dismissed.

The output stage knows nothing of lint's registry: the caller passes the rules
as :class:`RuleInfo` records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runner import __version__
from runner.output.fingerprint import fingerprinted, repository_path
from runner.output.results import LintResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
FINGERPRINT_KEY = "runnerLintFinding/v1"


@dataclass(frozen=True)
class RuleInfo:
    """What SARIF says about one rule."""

    id: str
    severity: str
    summary: str
    description: str
    rewrite: str
    properties: dict[str, Any]


def report(results: Sequence[LintResult], rules: Sequence[RuleInfo]) -> str:
    """The SARIF log of ``results``, with ``rules`` as the driver's rule catalogue."""
    index = {rule.id: i for i, rule in enumerate(rules)}
    out: list[dict[str, Any]] = []
    for result, item, fingerprint in fingerprinted(results):
        where = f"{result.project} {item.revision}" if item.revision else result.project
        entry: dict[str, Any] = {
            "ruleId": item.rule,
            "level": LEVEL.get(item.severity, "warning"),
            "message": {"text": f"{where}: {item.message}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": repository_path(result, item),
                            "uriBaseId": "SRCROOT",
                        },
                        "region": {"startLine": item.line or 1},
                    }
                }
            ],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        }
        if item.rule in index:
            entry["ruleIndex"] = index[item.rule]
        if item.accepted:
            entry["suppressions"] = [{"kind": "inSource", "justification": item.reason or ""}]
        out.append(entry)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "runner lint",
                        "version": __version__,
                        "rules": [_rule(rule) for rule in rules],
                    }
                },
                "originalUriBaseIds": {"SRCROOT": {"description": {"text": "repository root"}}},
                "results": out,
            }
        ],
    }
    return json.dumps(log, indent=2)


def _rule(rule: RuleInfo) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.description or rule.summary},
        "help": {
            "text": rule.rewrite or rule.summary,
            "markdown": f"**Safe rewrite:** {rule.rewrite}" if rule.rewrite else rule.summary,
        },
        "defaultConfiguration": {"level": LEVEL.get(rule.severity, "warning")},
        "properties": rule.properties,
    }
