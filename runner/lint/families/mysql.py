"""MySQL and MariaDB online DDL rules: the ALTERs that copy or rebuild the table,
by server version, and the ALGORITHM / LOCK clauses that make the server refuse
instead of copying."""

from __future__ import annotations

from dataclasses import replace

from runner.lint.rule import Applies, Rule

_FAMILY = "online-ddl"
_MY = ("mysql",)
_ALTER = r"^ALTER (ONLINE |IGNORE )?TABLE \S+ "
_COPY = "ALGORITHM=COPY, LOCK=SHARED: writes wait for the whole copy"

RULES = [
    Rule(
        "mysql-column-type-copy",
        "warning",
        "MODIFY / CHANGE COLUMN: a type change copies the table, a NULL change rebuilds it",
        dialects=_MY,
        everywhere=False,
        existing_table=True,
        why="Changing a column's data type (other than lengthening a VARCHAR within the same"
        " length-byte size) needs ALGORITHM=COPY: the table is copied and writes wait."
        " Changing only NULL / NOT NULL rebuilds it in place (long, but writes go on).",
        rewrite="Add a new column, backfill in batches, switch, drop the old one; or use an"
        " online schema change tool (gh-ost, pt-online-schema-change).",
        lock=_COPY,
        squawk=("changing-column-type",),
        pattern=_ALTER + r".*\b(MODIFY|CHANGE)( COLUMN)? ",
        unless=r"\bALGORITHM ?= ?(INSTANT|INPLACE)\b",
        grows_with_table=True,
    ),
    Rule(
        "mysql-add-column-rebuild",
        "warning",
        "ADD COLUMN rebuilds the table on this server",
        dialects=_MY,
        everywhere=False,
        existing_table=True,
        why="MySQL before 8.0.12 and MariaDB before 10.3 rebuild the table to add a column"
        " (INPLACE, but the rebuild takes as long as a copy and the replica lags); MySQL 8.0.12"
        " to 8.0.28 adds INSTANT only as the last column (FIRST/AFTER rebuilds).",
        rewrite="MySQL 8.0.29+ / MariaDB 10.4+ add any column INSTANT: state ALGORITHM=INSTANT;"
        " on older servers add it last or use gh-ost / pt-online-schema-change.",
        lock="ALGORITHM=INPLACE with a rebuild, LOCK=NONE",
        applies=(
            Applies("mysql", until="8.0.12"),
            Applies("mariadb", until="10.3"),
        ),
        pattern=_ALTER + r".*\bADD (COLUMN )?(?!(CONSTRAINT|INDEX|KEY|UNIQUE|PRIMARY|FOREIGN"
        r"|FULLTEXT|SPATIAL|CHECK)\b)",
        grows_with_table=True,
    ),
    Rule(
        "mysql-add-column-position",
        "warning",
        "ADD COLUMN ... FIRST/AFTER rebuilds the table",
        dialects=_MY,
        everywhere=False,
        existing_table=True,
        why="MySQL 8.0.12 to 8.0.28 (and MariaDB 10.3) add a column INSTANT only at the end;"
        " FIRST or AFTER falls back to a rebuild.",
        rewrite="Add the column last (column order rarely matters), or upgrade to 8.0.29+.",
        lock="ALGORITHM=INPLACE with a rebuild, LOCK=NONE",
        applies=(
            Applies("mysql", since="8.0.12", until="8.0.29"),
            Applies("mariadb", since="10.3", until="10.4"),
        ),
        pattern=_ALTER + r".*\bADD (COLUMN )?.*\b(FIRST|AFTER \S+)\s*(,|$)",
        grows_with_table=True,
    ),
    Rule(
        "mysql-drop-column-rebuild",
        "warning",
        "DROP COLUMN rebuilds the table on this server",
        dialects=_MY,
        everywhere=False,
        existing_table=True,
        why="Before MySQL 8.0.29 and MariaDB 10.4 dropping a column rebuilds the whole table.",
        rewrite="On 8.0.29+ / MariaDB 10.4+ it is INSTANT (state ALGORITHM=INSTANT); else"
        " schedule it off-peak or use an online schema change tool.",
        lock="ALGORITHM=INPLACE with a rebuild, LOCK=NONE",
        applies=(Applies("mysql", until="8.0.29"), Applies("mariadb", until="10.4")),
        pattern=_ALTER + r".*\bDROP (COLUMN )?(?!(CONSTRAINT|INDEX|KEY|PRIMARY|FOREIGN|CHECK)\b)",
        grows_with_table=True,
    ),
    Rule(
        "mysql-algorithm-missing",
        "info",
        "ALTER TABLE without ALGORITHM= / LOCK=",
        dialects=_MY,
        everywhere=False,
        existing_table=True,
        why="Without them the server silently picks the cheapest algorithm it can, which may be"
        " a table copy that blocks writes.",
        rewrite="State what you expect (ALGORITHM=INSTANT, or ALGORITHM=INPLACE, LOCK=NONE):"
        " the server then refuses instead of copying (op.alter_column(...,"
        " mysql_algorithm=...) is not an Alembic option: use op.execute).",
        lock="whatever the server picks",
        pattern=_ALTER,
        unless=r"\bALGORITHM ?=|\bLOCK ?=",
    ),
    Rule(
        "mysql-algorithm-copy",
        "warning",
        "ALGORITHM=COPY or LOCK=SHARED/EXCLUSIVE stated",
        dialects=_MY,
        everywhere=False,
        why="The statement asks for a table copy or a lock that blocks writes (EXCLUSIVE:"
        " reads too) for its whole duration.",
        rewrite="ALGORITHM=INPLACE, LOCK=NONE (or INSTANT) where the change allows it; else an"
        " online schema change tool.",
        lock="as stated",
        pattern=r"\bALGORITHM ?= ?COPY\b|\bLOCK ?= ?(SHARED|EXCLUSIVE)\b",
        grows_with_table=True,
    ),
    Rule(
        "mysql-charset-conversion",
        "warning",
        "changing a table's or column's character set or collation copies the table",
        dialects=_MY,
        everywhere=False,
        why="CONVERT TO CHARACTER SET and a column's new CHARACTER SET/COLLATE rewrite every"
        " row (ALGORITHM=COPY); indexes on the columns are rebuilt; utf8mb4 can make index"
        " keys too long.",
        rewrite="Convert off-peak with an online schema change tool; check index key lengths"
        " (767/3072 bytes) first.",
        lock=_COPY,
        pattern=_ALTER + r".*\b(CONVERT TO (CHARACTER SET|CHARSET)|(MODIFY|CHANGE)\b.*\b("
        r"CHARACTER SET|CHARSET|COLLATE))\b",
        grows_with_table=True,
    ),
    Rule(
        "mysql-primary-key-change",
        "warning",
        "adding or dropping a primary key rebuilds the table",
        dialects=_MY,
        everywhere=False,
        existing_table=True,
        why="InnoDB stores rows in primary key order: a new key rebuilds the table, and DROP"
        " PRIMARY KEY without ADD in the same statement needs ALGORITHM=COPY.",
        rewrite="Drop and add the key in one ALTER (INPLACE), off-peak, or with gh-ost.",
        lock="ALGORITHM=INPLACE with a rebuild (COPY for a DROP alone)",
        pattern=_ALTER + r".*\b(ADD (CONSTRAINT \S+ )?PRIMARY KEY|DROP PRIMARY KEY)\b",
        grows_with_table=True,
    ),
    Rule(
        "mysql-fulltext-index",
        "warning",
        "a FULLTEXT index: the first one rebuilds the table",
        dialects=_MY,
        everywhere=False,
        existing_table=True,
        why="Adding the first FULLTEXT index adds a hidden FTS_DOC_ID column (a rebuild), and"
        " any FULLTEXT build takes LOCK=SHARED: writes wait.",
        rewrite="Create the table with its FULLTEXT index, or add an FTS_DOC_ID column first;"
        " build off-peak.",
        lock="ALGORITHM=INPLACE, LOCK=SHARED",
        pattern=r"^CREATE FULLTEXT INDEX\b|" + _ALTER + r".*\bADD FULLTEXT\b",
        grows_with_table=True,
    ),
    Rule(
        "mysql-add-foreign-key-copy",
        "warning",
        "ADD FOREIGN KEY with foreign_key_checks on copies the table",
        dialects=_MY,
        everywhere=False,
        existing_table=True,
        why="InnoDB adds a foreign key INPLACE only when foreign_key_checks is off; otherwise"
        " it copies the table (ALGORITHM=COPY) to check every row.",
        rewrite="Add the index first, then the key with SET foreign_key_checks = 0 around it"
        " once you have checked the data yourself (and SET it back to 1).",
        lock=_COPY,
        squawk=("adding-foreign-key-constraint",),
        pattern=_ALTER + r".*\bADD (CONSTRAINT \S+ )?FOREIGN KEY\b",
        grows_with_table=True,
    ),
    Rule(
        "mysql-foreign-key-checks-off",
        "warning",
        "SET foreign_key_checks = 0",
        dialects=_MY,
        everywhere=False,
        why="Rows that break the keys go in unchecked, and it stays off for the rest of the"
        " session unless set back.",
        rewrite="Check the data with a query first, and SET foreign_key_checks = 1 in the same"
        " revision.",
        pattern=r"^SET (SESSION |@@SESSION\.|@@)?FOREIGN_KEY_CHECKS ?= ?(0|OFF)\b",
    ),
    Rule(
        "mysql-table-rebuild",
        "warning",
        "OPTIMIZE TABLE, ALTER ... FORCE or ENGINE= rebuilds",
        dialects=_MY,
        everywhere=False,
        why="The whole table is rebuilt (ENGINE to another engine: copied under a write lock);"
        " replicas lag for as long.",
        rewrite="Outside the migration, off-peak, or with an online schema change tool.",
        lock="ALGORITHM=INPLACE with a rebuild (COPY to change the engine)",
        pattern=r"^OPTIMIZE (NO_WRITE_TO_BINLOG |LOCAL )?TABLE\b|"
        + _ALTER
        + r"(.*,\s*)?(FORCE|ENGINE ?= ?\S+)\s*(,|$)",
        grows_with_table=True,
    ),
    Rule(
        "mysql-enum-reorder",
        "warning",
        "an ENUM / SET column redefined",
        dialects=_MY,
        everywhere=False,
        existing_table=True,
        why="Appending values at the end of an ENUM is INSTANT; inserting, removing or"
        " reordering values changes the stored numbers and copies the table.",
        rewrite="Only append new values at the end; move rows off a value before removing it.",
        lock=_COPY,
        pattern=_ALTER + r".*\b(MODIFY|CHANGE)( COLUMN)? .*\b(ENUM|SET) ?\(",
        grows_with_table=True,
    ),
]
RULES = [replace(r, family=_FAMILY) for r in RULES]
