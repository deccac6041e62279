"""The catalogue of ``runner lint`` rules: stable ids, severities, what they mean.

Rule ids are part of the public interface: they appear in output, in JUnit
reports and in ``# lint: accept <rule>: <reason>`` markers written into
revision files, so an id is never renamed. Severity decides the exit code:
an unaccepted ``error`` fails the run, ``warning`` and ``info`` never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runner.output.results import LintFinding

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Rule:
    """One check: its id, its severity and a one-line description for docs.

    ``dialects`` names the backends the rule applies to (empty: all of them).
    ``everywhere`` is false for rules whose findings depend on the dialect
    linted for: an accept marker for them is not "unused" on another dialect.
    """

    id: str
    severity: Severity
    summary: str
    everywhere: bool = True
    dialects: tuple[str, ...] = ()


_RULES = [
    # History graph: read from the revision files, no database.
    Rule("multiple-heads", "error", "more than one head and lint_allow_branches is not set"),
    Rule("duplicate-revision", "error", "two revision files carry the same revision id"),
    Rule("unknown-down-revision", "error", "down_revision names a revision that does not exist"),
    Rule("broken-history", "error", "Alembic cannot build the revision map"),
    Rule("unreadable-revision", "error", "a revision file has no literal revision id or no parse"),
    Rule("no-downgrade", "error", "downgrade() does nothing and no irreversible marker says why"),
    Rule("bad-marker", "error", "a '# lint:' marker without a reason, or naming no known rule"),
    Rule("unused-accept", "info", "an accept marker for a rule that found nothing here"),
    # SQL, from the offline rendering of each upgrade.
    Rule("drop-table", "error", "DROP TABLE: data loss"),
    Rule("drop-column", "error", "ALTER TABLE ... DROP COLUMN: data loss"),
    Rule("drop-schema", "error", "DROP SCHEMA / DROP DATABASE: data loss"),
    Rule("truncate", "error", "TRUNCATE: data loss"),
    Rule("delete-without-where", "error", "DELETE without WHERE empties the table"),
    Rule("update-without-where", "error", "UPDATE without WHERE overwrites every row"),
    Rule("add-not-null-column", "error", "NOT NULL column without default on an existing table"),
    Rule("rename-table", "error", "renaming a table breaks running applications"),
    Rule("rename-column", "error", "renaming a column breaks running applications"),
    Rule("column-type-change", "warning", "column type change: rewrite, lock, possible data loss"),
    Rule(
        "blocking-index",
        "warning",
        "PostgreSQL CREATE INDEX without CONCURRENTLY blocks writes",
        everywhere=False,
        dialects=("postgresql",),
    ),
    Rule(
        "transaction-control",
        "error",
        "COMMIT, ROLLBACK, BEGIN or SAVEPOINT in a revision: it breaks the run's transaction",
    ),
    Rule("render-failed", "warning", "the SQL could not be rendered offline", everywhere=False),
    Rule("unparsed-sql", "info", "a statement sqlglot could not parse", everywhere=False),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def finding(
    rule_id: str,
    message: str,
    *,
    revision: str | None = None,
    path: str | None = None,
    statement: str | None = None,
) -> LintFinding:
    """A finding of ``rule_id`` with the rule's severity (unknown ids are a bug)."""
    return LintFinding(
        rule=rule_id,
        severity=RULES[rule_id].severity,
        message=message,
        revision=revision,
        path=path,
        statement=statement,
    )
