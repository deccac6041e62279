"""The catalogue of ``runner lint`` rules: stable ids, severities, what they mean.

Rule ids are part of the public interface: they appear in output, in JUnit
reports and in ``# lint: accept <rule>: <reason>`` markers written into
revision files, so an id is never renamed. Severity decides the exit code:
an unaccepted ``error`` fails the run, ``warning`` and ``info`` never do.
"""

from __future__ import annotations

from runner.lint.families import destructive, history, mysql, postgres, transactions, types
from runner.lint.rule import Rule, Severity
from runner.output.results import LintFinding

__all__ = ["RULES", "Rule", "Severity", "finding", "sql_rules"]

_META = [
    Rule("render-failed", "warning", "the SQL could not be rendered offline", everywhere=False,
         why="What cannot be rendered is not checked.", family="meta", sql=False,
         rewrite="Avoid op.get_bind() reads in upgrade(), or accept it with a reason."),
    Rule("unparsed-sql", "info", "a statement sqlglot could not parse", everywhere=False,
         why="Rules that need the parsed statement did not check it. INSERT and SELECT are"
         " never parsed: no such rule reads them.", family="meta", sql=False,
         rewrite="Nothing to do, unless the statement is risky: then review it by hand."),
]  # fmt: skip
_RULES = [
    *history.RULES,
    *destructive.RULES,
    *postgres.RULES,
    *types.RULES,
    *mysql.RULES,
    *transactions.RULES,
    *_META,
]
RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
assert len(RULES) == len(_RULES), "a rule id is declared twice"


def grows_with_table() -> frozenset[str]:
    """Ids of the rules whose lock lasts as long as the table is big: what a plan that
    reads the live tables judges by their size (runner.run.live.judge)."""
    return frozenset(rule.id for rule in _RULES if rule.grows_with_table)


def sql_rules() -> list[Rule]:
    """The rules that check SQL (not the history, the markers or the rendering)."""
    return [rule for rule in _RULES if rule.sql]


def finding(
    rule_id: str,
    message: str,
    *,
    revision: str | None = None,
    path: str | None = None,
    statement: str | None = None,
    severity: Severity | None = None,
) -> LintFinding:
    """A finding of ``rule_id`` with the rule's severity, or ``severity`` where it depends
    on the server (unknown ids are a bug)."""
    return LintFinding(
        rule=rule_id,
        severity=severity or RULES[rule_id].severity,
        message=message,
        revision=revision,
        path=path,
        statement=statement,
    )
