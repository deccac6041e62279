"""The catalogue of faults and hostile inputs the runner must survive.

Each case is a test decorated with :func:`case`, which records what must hold
afterwards: the exit code, the one line the user reads, where the database is
and what the change log says. ``docs/reliability.md`` is generated from these
records (``python -m tests.reliability.catalogue > docs/reliability.md``) and a
test fails when the two differ, so the document cannot drift from the tests.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Every module holding catalogued tests (importing them fills CASES).
MODULES = (
    "tests.reliability.test_faults",
    "tests.reliability.test_inputs",
    "tests.reliability.test_properties",
    "tests.test_changelog",
    "tests.test_trust",
    "tests.test_errors",
    "tests.test_plan_apply",
    "tests.test_secrets",
    "tests.test_guards",
)
GROUPS = ("concurrency", "faults", "configuration", "inputs", "history", "log", "plans", "secrets")


@dataclass(frozen=True)
class Case:
    """One fault or input, and what the runner does about it."""

    group: str
    title: str
    exit_code: str  # "0", "3", "1 or 3", ...
    message: str  # the one line (or what it says)
    database: str  # where the database is afterwards
    log: str  # what the change log says afterwards
    test: str = ""  # module::function, filled by the decorator
    backends: str = "SQLite, PostgreSQL, MariaDB"


CASES: list[Case] = []


def case(
    group: str,
    title: str,
    *,
    exit_code: str,
    message: str,
    database: str,
    log: str = "consistent: verify passes",
    backends: str = "SQLite, PostgreSQL, MariaDB",
) -> Callable[[F], F]:
    """Record the decorated test as a catalogue case."""
    assert group in GROUPS, group

    def register(test: F) -> F:
        module = test.__module__.removeprefix("tests.")
        test_id = f"{module}::{test.__name__}"
        CASES.append(Case(group, title, exit_code, message, database, log, test_id, backends))
        return test

    return register


def load() -> list[Case]:
    """Every case, in document order (by group, then as declared)."""
    for name in MODULES:
        importlib.import_module(name)
    # Run as a script, this module is __main__: the tests registered in its imported twin.
    registered = importlib.import_module("tests.reliability.catalogue").CASES
    unique = {c.test + c.title: c for c in registered}
    # A stable order whatever order pytest imported the modules in.
    return sorted(unique.values(), key=lambda c: (GROUPS.index(c.group), c.test, c.title))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    cases = load()
    lines = [
        "# Reliability catalogue",
        "",
        "Every fault and hostile input the runner is tested against, and what holds",
        "afterwards. Generated from the tests (`tests/reliability/catalogue.py`):",
        "`python -m tests.reliability.catalogue > docs/reliability.md`; a test fails when",
        "this file and the tests disagree.",
        "",
        "Every case also checks that no password appears in any output, that the database",
        "is at a revision `runner status` agrees with, and, where a run wrote, that the",
        "change log is consistent with the version table. Exit codes are those of the",
        "README: 0 ok, 1 a migration failed, 2 usage or configuration, 3 database",
        "unreachable or connection lost, 4 refused by a safety check, 5 lock timeout,",
        "70 internal error (a bug), 130 interrupted, 143 terminated.",
        "",
        f"{len(cases)} cases.",
        "",
    ]
    for group in GROUPS:
        mine = [c for c in cases if c.group == group]
        if not mine:
            continue
        lines += [
            f"## {group.capitalize()}",
            "",
            "| case | exit | message | database afterwards | change log afterwards | on | test |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(c.title)} | {c.exit_code} | {_cell(c.message)} | {_cell(c.database)} |"
            f" {_cell(c.log)} | {c.backends} | `{c.test}` |"
            for c in mine
        ]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render())
