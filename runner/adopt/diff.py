"""Compare two catalogs: every object added, removed or altered, and what differs.

``expected`` is what should be (a replica of the migrations, or the ``--from``
target), ``actual`` what is (the live database, the ``--to`` target). An object
is ``added`` when only ``actual`` has it, ``removed`` when only ``expected`` has
it, ``altered`` when both have it with different elements; each change lists its
elements as lines (``column note added: TEXT NULL``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.roundtrip.schema import Schema

ADDED, REMOVED, ALTERED = "added", "removed", "altered"
# Tables first: a table added by hand is the headline, its index a detail.
_RANK = {"table": 0, "view": 1, "sequence": 2, "enum": 3}


@dataclass(frozen=True)
class Change:
    """One object that differs."""

    object: str  # "table people"
    kind: str  # table, view, sequence, enum, function, trigger, ...
    name: str  # people (schema.name outside the default schema)
    change: str  # added, removed, altered
    details: list[str] = field(default_factory=list)

    def line(self) -> str:
        shown = f"{self.object} {self.change}"
        return f"{shown}: {'; '.join(self.details)}" if self.details else shown


def compare(expected: Schema, actual: Schema) -> list[Change]:
    """The differences from ``expected`` to ``actual``, tables first, then by name."""
    changes = []
    for obj in actual.keys() - expected.keys():
        changes.append(_change(obj, ADDED, [_element(k, v) for k, v in sorted(actual[obj].items())
                                            if not k.endswith("statement")]))  # fmt: skip
    for obj in expected.keys() - actual.keys():
        changes.append(_change(obj, REMOVED, []))
    for obj in expected.keys() & actual.keys():
        before, after = expected[obj], actual[obj]
        details = [f"{k} added: {after[k]}" for k in sorted(after.keys() - before.keys())]
        details += [f"{k} removed: {before[k]}" for k in sorted(before.keys() - after.keys())]
        both = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
        details += [f"{k} changed: {before[k]} -> {after[k]}" for k in both]
        if details:
            changes.append(_change(obj, ALTERED, _specific(details)))
    return sorted(changes, key=lambda c: (_RANK.get(c.kind, 9), c.name, c.change))


def _change(obj: str, change: str, details: list[str]) -> Change:
    kind, _, name = obj.partition(" ")
    return Change(obj, kind, name, change, details)


def _element(key: str, value: str) -> str:
    return f"{key}: {value}" if value else key


def _specific(details: list[str]) -> list[str]:
    """SQLite's CREATE statements change with any element: shown only when nothing more
    specific is (a change of the statement alone, such as a foreign key's action)."""
    named = [d for d in details if not (d.startswith("statement") or " statement " in d)]
    return named or details
