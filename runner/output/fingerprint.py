"""Stable identities of lint findings, shared by the Code Quality and SARIF reports.

GitLab compares a merge request's Code Quality report with the target branch's
by ``fingerprint``; GitHub code scanning matches alerts across runs by
``partialFingerprints``. Either way a fingerprint that changes when nothing about
the finding changed makes a fixed alert look new (and a new one look fixed).

A fingerprint is the SHA-256 (hex) of, joined by NUL bytes::

    project, rule id, revision id (or "" for project-wide findings),
    the statement with whitespace collapsed and case folded (else the message),
    the occurrence number of that same (project, rule, revision, text) in the run

It leaves out the file path and the line on purpose: re-indenting a revision,
adding a docstring above ``upgrade()`` or renaming the file keeps every
fingerprint. The occurrence number tells apart two identical statements of one
revision.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator

from runner.output.results import LintFinding, LintResult


def normalised(text: str) -> str:
    """Whitespace collapsed, case folded: how statements are compared."""
    return " ".join(text.split()).lower()


def fingerprinted(results: Iterable[LintResult]) -> Iterator[tuple[LintResult, LintFinding, str]]:
    """Every finding of ``results`` with its fingerprint, in report order."""
    seen: Counter[tuple[str, ...]] = Counter()
    for result in results:
        for item in result.findings:
            key = (
                result.project,
                item.rule,
                item.revision or "",
                normalised(item.statement or item.message),
            )
            seen[key] += 1
            text = "\0".join([*key, str(seen[key])])
            yield result, item, hashlib.sha256(text.encode("utf-8")).hexdigest()


def repository_path(result: LintResult, item: LintFinding) -> str:
    """The finding's file relative to the repository root (``projects/x/versions/a.py``)."""
    inside = item.file or item.path or "alembic.ini"
    return f"{result.path}/{inside}" if result.path else inside
