"""Rules about the run's transaction: what a revision does to it, per dialect."""

from __future__ import annotations

from dataclasses import replace

from runner.lint.rule import Rule

_FAMILY = "transactions"

RULES = [
    Rule(
        "transaction-control",
        "error",
        "COMMIT, ROLLBACK, BEGIN or SAVEPOINT in a revision: it breaks the run's transaction",
        why="The runner runs each revision (or the whole run) in one transaction and records"
        " it in the change log; a revision's own COMMIT ends it early, so a later failure"
        " leaves half the run applied and the log wrong; a BEGIN nests (a warning, then"
        " the same).",
        rewrite="Remove it; for statements that must run outside a transaction use"
        " op.get_context().autocommit_block().",
        squawk=("transaction-nesting", "ban-uncommitted-transaction"),
    ),
    Rule(
        "concurrently-in-transaction",
        "error",
        "CONCURRENTLY inside the run's transaction",
        dialects=("postgresql",),
        everywhere=False,
        why="CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY and DETACH PARTITION"
        " CONCURRENTLY cannot run inside a transaction block: the revision fails.",
        rewrite="Wrap the statement in `with op.get_context().autocommit_block():`.",
        squawk=("ban-concurrent-index-creation-in-transaction",),
        pattern=r"\bCONCURRENTLY\b",
    ),
    Rule(
        "mysql-implicit-commit",
        "warning",
        "DDL in a multi-statement revision: MySQL commits after each DDL statement",
        dialects=("mysql",),
        everywhere=False,
        why="MySQL cannot roll DDL back: each DDL statement commits implicitly, so a failure"
        " in the middle leaves the statements before it applied and the version table at the"
        " older revision.",
        rewrite="One DDL statement per revision (or make every statement re-runnable: IF NOT"
        " EXISTS / IF EXISTS), so a failed revision can simply be run again.",
    ),
]
RULES = [replace(r, family=_FAMILY) for r in RULES]
