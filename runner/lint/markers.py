"""Markers that accept a lint finding, written where the change is: in the revision.

In a revision's ``.py`` file (as a comment) or in its paired ``.upgrade.sql`` /
``.downgrade.sql`` files (as a ``--`` comment)::

    # lint: accept drop-column: column unused since v2.3, confirmed with the app team
    # lint: accept rename-table, rename-column: app v4 reads both names
    # lint: irreversible: the dropped audit rows are archived, there is nothing to restore
    -- lint: accept update-without-where: backfill of a new column

``accept`` names one or more rule ids (see :mod:`runner.lint_rules`);
``irreversible`` is shorthand for ``accept no-downgrade``. The reason after the
colon is mandatory: a marker without one, or naming an unknown rule, is itself
a ``bad-marker`` finding. Accepted findings are still reported, with the reason,
but do not fail the run. :func:`acceptances` is the entry point for other
commands (``plan`` shows the acceptances of the revisions it renders).
"""

from __future__ import annotations

import difflib
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from runner.lint.rules import RULES
from runner.project.sql_files import sql_file_path

_MARKER = re.compile(r"^\s*(?:#|--)\s*lint\s*:\s*(?P<body>.*?)\s*$")
# Somewhere in a file's text: every marker comment contains this.
_ANY_MARKER = re.compile(r"#\s*lint\s*:")
_ACCEPT = re.compile(
    r"^accept\s+(?P<rules>[\w-]+(?:\s*,\s*[\w-]+)*)\s*(?::\s*(?P<reason>.*))?$", re.IGNORECASE
)
_IRREVERSIBLE = re.compile(r"^irreversible\s*(?::\s*(?P<reason>.*))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Marker:
    """One ``lint:`` comment; ``problem`` says why it is invalid (then it accepts nothing)."""

    rules: tuple[str, ...]
    reason: str
    path: Path
    line: int
    problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None


def read_markers(revision_file: str | Path) -> list[Marker]:
    """Every ``lint:`` marker of a revision: its ``.py`` file and paired ``.sql`` files."""
    path = Path(revision_file)
    found = [_parse(body, path, line) for line, body in _python_comments(path)]
    for direction in ("upgrade", "downgrade"):
        sql_path = sql_file_path(path, direction)
        if sql_path.is_file():
            lines = sql_path.read_text(encoding="utf-8").splitlines()
            found += [
                _parse(text, sql_path, number)
                for number, text in enumerate(lines, 1)
                if text.lstrip().startswith("--")
            ]
    return [m for m in found if m is not None]


def acceptances(revision_file: str | Path) -> dict[str, Marker]:
    """Rule id -> the valid marker accepting it in this revision (first one wins)."""
    accepted: dict[str, Marker] = {}
    for marker in read_markers(revision_file):
        if marker.valid:
            for rule in marker.rules:
                accepted.setdefault(rule, marker)
    return accepted


def _python_comments(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each comment in a Python file; tokenize so strings never count."""
    source = path.read_text(encoding="utf-8")
    if not _ANY_MARKER.search(source):
        return []  # no comment of it can be a marker: skip tokenizing (lint reads them all)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        # A file that does not tokenize is reported elsewhere; read what we can.
        return [(n, t) for n, t in enumerate(source.splitlines(), 1) if t.lstrip().startswith("#")]
    return [(tok.start[0], tok.string) for tok in tokens if tok.type == tokenize.COMMENT]


def _parse(comment: str, path: Path, line: int) -> Marker | None:
    """A :class:`Marker` from one comment, or ``None`` when it is not a ``lint:`` comment."""
    match = _MARKER.match(comment)
    if match is None:
        return None
    body = match["body"]
    accept = _ACCEPT.match(body)
    irreversible = _IRREVERSIBLE.match(body)
    if accept:
        rules = tuple(r.strip().lower() for r in accept["rules"].split(","))
        reason = (accept["reason"] or "").strip()
    elif irreversible:
        rules, reason = ("no-downgrade",), (irreversible["reason"] or "").strip()
    else:
        return Marker(
            (),
            "",
            path,
            line,
            f"unknown lint marker {body!r}: use 'lint: accept <rule>: <reason>'"
            " or 'lint: irreversible: <reason>'",
        )
    return Marker(rules, reason, path, line, _problem(rules, reason))


def _problem(rules: tuple[str, ...], reason: str) -> str | None:
    """Why a marker is invalid: an unknown rule (with a suggestion) or no reason."""
    for rule in rules:
        if rule not in RULES:
            close = difflib.get_close_matches(rule, list(RULES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"lint marker names unknown rule {rule!r}{hint}"
    if not reason:
        return f"lint marker for {', '.join(rules)} has no reason: add ': <why this is safe>'"
    return None
