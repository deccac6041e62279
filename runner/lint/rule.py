"""What a lint rule is: its public id and everything the docs and reports say of it.

The families in :mod:`runner.lint.families` declare rules with :class:`Rule`;
:mod:`runner.lint.rules` collects them into the one registry that the checks,
the reports (SARIF ``tool.driver.rules``) and ``docs/lint-rules.md`` read.

A rule may depend on the server: ``applies`` lists the (flavour, version range)
pairs it fires on, each with its own severity where that differs (PostgreSQL 11
adds a column with a constant default without a rewrite, older servers rewrite
the table). Flavours are ``postgresql``, ``mysql`` and ``mariadb`` (MariaDB is the
``mysql`` dialect with a server version of 10 or more, or one naming it):
see :func:`flavour_of`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from runner.db.backends import KNOWN, backend

Severity = Literal["error", "warning", "info"]
Version = tuple[int, ...]

_MISSING = 999  # "8.0" means the newest 8.0.x: a part left out compares as the highest


def parse_version(text: str) -> Version:
    """``"8.0.36"`` -> ``(8, 0, 36)``; ``"8.0"`` -> ``(8, 0, 999)``: a release line."""
    numbers = [int(n) for n in re.findall(r"\d+", text.split("-", 1)[0])[:3]]
    return tuple(numbers + [_MISSING] * (3 - len(numbers))) if numbers else (_MISSING,)


def flavour_of(dialect: str, server_version: str | None) -> tuple[str, str, Version]:
    """(flavour, label, version) of the server: the table in :mod:`runner.db.backends`
    says which flavours a dialect has and which version is assumed without one."""
    name, label, version = backend(dialect).flavour(server_version)
    return name, label, parse_version(version)


@dataclass(frozen=True)
class Applies:
    """A server flavour and version range (``since`` inclusive, ``until`` exclusive)."""

    flavour: str
    since: str | None = None
    until: str | None = None
    severity: Severity | None = None  # None: the rule's own

    def covers(self, flavour: str, version: Version) -> bool:
        if flavour != self.flavour:
            return False
        if self.since is not None and version < parse_version(self.since):
            return False
        return self.until is None or version < parse_version(self.until)

    def shown(self) -> str:
        label = next(
            (f[1] for b in KNOWN for f in b.server_flavours if f[0] == self.flavour), self.flavour
        )
        if self.since and self.until:
            return f"{label} {self.since} to before {self.until}"
        if self.since:
            return f"{label} {self.since}+"
        if self.until:
            return f"{label} before {self.until}"
        return label


@dataclass(frozen=True)
class Rule:
    """One check. ``summary`` is one line; ``why`` says what goes wrong in production;
    ``rewrite`` is the safe way to make the same change; ``lock`` what the server takes
    (PostgreSQL lock mode; MySQL algorithm and lock level).

    ``dialects`` names the backends the rule applies to (empty: all of them);
    ``applies`` narrows that to server flavours and versions. ``everywhere`` is
    false for rules whose findings depend on the dialect linted for: an accept
    marker for them is not "unused" on another dialect. ``squawk`` names the
    squawk rules this one covers (docs and the side-by-side benchmark).
    Text rules set ``pattern`` (searched in the statement, whitespace collapsed and
    upper-cased) and ``unless`` (a match there means the statement is fine);
    ``existing_table`` limits them to ALTERs of tables not created in the same revision.
    ``grows_with_table``: the cost of the lock grows with the table (see the field).
    """

    id: str
    severity: Severity
    summary: str
    everywhere: bool = True
    dialects: tuple[str, ...] = ()
    why: str = ""
    rewrite: str = ""
    lock: str = ""
    applies: tuple[Applies, ...] = ()
    squawk: tuple[str, ...] = ()
    family: str = ""
    pattern: str | None = None
    unless: str | None = None
    existing_table: bool = False
    sql: bool = True  # a check of the SQL (not of the history or the markers)
    # The lock it takes (or the rewrite or scan under it) lasts as long as the table is
    # big: a plan that knows the live table raises or lowers it (runner.run.live.judge).
    grows_with_table: bool = False

    def severity_for(self, dialect: str, server_version: str | None) -> Severity | None:
        """This rule's severity on that server, or ``None`` where it does not apply."""
        if self.dialects and dialect not in self.dialects:
            return None
        if not self.applies:
            return self.severity
        flavour, _, version = flavour_of(dialect, server_version)
        for applies in self.applies:
            if applies.covers(flavour, version):
                return applies.severity or self.severity
        return None
