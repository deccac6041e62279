"""Rules about changes that lose data or break the running application."""

from __future__ import annotations

from dataclasses import replace

from runner.lint.rule import Rule

_FAMILY = "destructive"
_BEFORE_RUNNING_CODE = (
    "Expand and contract: release application code that no longer uses it first,"
    " then remove it in a later revision"
)

RULES = [
    Rule(
        "drop-table",
        "error",
        "DROP TABLE: data loss",
        why="The data is gone, and application code still reading the table fails.",
        rewrite=f"{_BEFORE_RUNNING_CODE}; keep a backup or rename to an archive table first.",
        lock="PostgreSQL ACCESS EXCLUSIVE; MySQL metadata lock (exclusive)",
        squawk=("ban-drop-table",),
    ),
    Rule(
        "drop-column",
        "error",
        "ALTER TABLE ... DROP COLUMN: data loss",
        why="The data is gone, and running code that selects or inserts the column fails.",
        rewrite=f"{_BEFORE_RUNNING_CODE} (ORMs: mark the column ignored/deferred before).",
        lock="PostgreSQL ACCESS EXCLUSIVE (metadata only); MySQL INPLACE rebuild before 8.0.29",
        squawk=("ban-drop-column",),
    ),
    Rule(
        "drop-schema",
        "error",
        "DROP SCHEMA / DROP DATABASE: data loss",
        why="Everything in it is gone.",
        rewrite="Never in a migration: do it by hand, after a backup.",
        lock="PostgreSQL ACCESS EXCLUSIVE on every object in it",
        squawk=("ban-drop-database", "ban-drop-schema"),
    ),
    Rule(
        "truncate",
        "error",
        "TRUNCATE: data loss",
        why="Every row is gone, with no WHERE to limit it.",
        rewrite="DELETE with a WHERE in batches, or accept it with a reason.",
        lock="PostgreSQL ACCESS EXCLUSIVE; MySQL drops and recreates the table (DDL)",
    ),
    Rule(
        "truncate-cascade",
        "error",
        "TRUNCATE ... CASCADE also empties every referencing table",
        dialects=("postgresql",),
        everywhere=False,
        why="CASCADE follows foreign keys: tables nobody named in the migration are emptied too.",
        rewrite="TRUNCATE the tables you mean, by name, without CASCADE.",
        lock="ACCESS EXCLUSIVE on every table reached",
        squawk=("ban-truncate-cascade",),
        pattern=r"^TRUNCATE\b.*\bCASCADE\b",
    ),
    Rule(
        "delete-without-where",
        "error",
        "DELETE without WHERE empties the table",
        why="Every row is deleted, in one long transaction holding row locks on all of them.",
        rewrite="Add the WHERE you mean; delete in batches for big tables.",
        lock="row locks on every row",
    ),
    Rule(
        "update-without-where",
        "error",
        "UPDATE without WHERE overwrites every row",
        why="Every row is rewritten in one transaction: row locks on all, table bloat, and"
        " replication lag.",
        rewrite="Add the WHERE you mean; backfill big tables in batches outside the migration.",
        lock="row locks on every row",
    ),
    Rule(
        "add-not-null-column",
        "error",
        "NOT NULL column without default on an existing table",
        why="The ALTER fails on any table with rows; where it does not, running code that"
        " inserts without the column fails.",
        rewrite="Add the column nullable (or with a default), backfill, then add NOT NULL.",
        lock="PostgreSQL ACCESS EXCLUSIVE; MySQL INPLACE rebuild before 8.0.12",
        squawk=("adding-required-field",),
    ),
    Rule(
        "rename-table",
        "error",
        "renaming a table breaks running applications",
        why="Code deployed before the migration still uses the old name, until every instance"
        " is replaced.",
        rewrite="Create the new table (or a view with the new name), write to both, move"
        " readers, then drop the old name.",
        lock="PostgreSQL ACCESS EXCLUSIVE (brief); MySQL metadata lock",
        squawk=("renaming-table",),
    ),
    Rule(
        "rename-column",
        "error",
        "renaming a column breaks running applications",
        why="Code deployed before the migration still uses the old name.",
        rewrite="Add the new column, write to both, backfill, move readers, drop the old one.",
        lock="PostgreSQL ACCESS EXCLUSIVE (brief); MySQL INSTANT since 8.0.28",
        squawk=("renaming-column",),
    ),
    Rule(
        "column-type-change",
        "warning",
        "column type change: rewrite, lock, possible data loss",
        why="Most type changes rewrite the table and its indexes under the strongest lock;"
        " narrowing loses data.",
        rewrite="Add a column of the new type, backfill in batches, switch readers, drop the"
        " old column. Widening varchar(n) or varchar to text needs no rewrite on PostgreSQL.",
        lock="PostgreSQL ACCESS EXCLUSIVE with a rewrite; MySQL ALGORITHM=COPY, LOCK=SHARED",
        squawk=("changing-column-type",),
        grows_with_table=True,
    ),
    Rule(
        "drop-not-null",
        "warning",
        "dropping NOT NULL lets NULLs reach code that assumes none",
        dialects=("postgresql", "mysql"),
        everywhere=False,
        why="Readers written for a non-null column break on the first NULL written after it.",
        rewrite="Make sure every reader handles NULL first; accept it with a reason.",
        lock="PostgreSQL ACCESS EXCLUSIVE (brief); MySQL MODIFY: INPLACE rebuild",
        squawk=("ban-drop-not-null",),
        pattern=r"^ALTER TABLE .*\bALTER (COLUMN )?\S+ DROP NOT NULL\b",
    ),
    Rule(
        "drop-indexed-column",
        "warning",
        "dropping a column that an index (or unique constraint) of its table uses",
        dialects=("postgresql", "mysql"),
        everywhere=False,
        why="PostgreSQL drops the whole index with it; MySQL shrinks a multi-column index, so a"
        " unique index on (a, b) becomes unique on (b) and the ALTER can fail on duplicates,"
        " or queries lose the index they relied on.",
        rewrite="Drop or replace the index explicitly in an earlier revision (CONCURRENTLY on"
        " PostgreSQL), then drop the column.",
        lock="PostgreSQL ACCESS EXCLUSIVE; MySQL INPLACE rebuild of the index",
        grows_with_table=True,
    ),
]
RULES = [replace(r, family=_FAMILY) for r in RULES]
