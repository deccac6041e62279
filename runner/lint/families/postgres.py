"""PostgreSQL locking rules: statements that hold a strong lock while they scan or
rewrite a table, and their safe rewrites."""

from __future__ import annotations

from dataclasses import replace

from runner.lint.rule import Applies, Rule

_FAMILY = "locking"
_PG = ("postgresql",)
_ALTER = r"^ALTER TABLE (IF EXISTS )?(ONLY )?\S+ "

RULES = [
    Rule(
        "blocking-index",
        "warning",
        "CREATE INDEX without CONCURRENTLY blocks writes",
        dialects=_PG,
        everywhere=False,
        why="The build holds a SHARE lock for its whole duration: every INSERT, UPDATE and"
        " DELETE on the table waits, minutes on a big table.",
        rewrite="CREATE INDEX CONCURRENTLY in an autocommit block (op.create_index(...,"
        " postgresql_concurrently=True) inside op.get_context().autocommit_block()).",
        lock="SHARE (blocks writes) for the whole build",
        squawk=("require-concurrent-index-creation",),
        grows_with_table=True,
    ),
    Rule(
        "drop-index-blocking",
        "warning",
        "DROP INDEX without CONCURRENTLY",
        dialects=_PG,
        everywhere=False,
        why="DROP INDEX takes ACCESS EXCLUSIVE on the table: it queues behind every running"
        " query, and everything queues behind it.",
        rewrite="DROP INDEX CONCURRENTLY in an autocommit block (op.drop_index(...,"
        " postgresql_concurrently=True)).",
        lock="ACCESS EXCLUSIVE on the table",
        squawk=("require-concurrent-index-deletion",),
        pattern=r"^DROP INDEX\b",
        unless=r"^DROP INDEX CONCURRENTLY\b",
    ),
    Rule(
        "concurrent-index-not-idempotent",
        "info",
        "CREATE INDEX CONCURRENTLY without IF NOT EXISTS",
        dialects=_PG,
        everywhere=False,
        why="A concurrent build that fails leaves an INVALID index behind; re-running the"
        " revision then fails on the name.",
        rewrite="CREATE INDEX CONCURRENTLY IF NOT EXISTS (and DROP INDEX CONCURRENTLY IF EXISTS"
        " in the downgrade); check pg_index.indisvalid after a failure.",
        lock="SHARE UPDATE EXCLUSIVE (reads and writes go on)",
        squawk=("prefer-robust-stmts",),
        pattern=r"^CREATE (UNIQUE )?INDEX CONCURRENTLY\b",
        unless=r"^CREATE (UNIQUE )?INDEX CONCURRENTLY IF NOT EXISTS\b",
    ),
    Rule(
        "foreign-key-not-valid",
        "warning",
        "a foreign key added without NOT VALID",
        dialects=_PG,
        everywhere=False,
        existing_table=True,
        why="Adding the constraint scans the whole table to validate it, holding SHARE ROW"
        " EXCLUSIVE on both tables: writes to either wait.",
        rewrite="ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in a"
        " later revision (it takes only SHARE UPDATE EXCLUSIVE).",
        lock="SHARE ROW EXCLUSIVE on the table and the referenced table during the scan",
        squawk=("adding-foreign-key-constraint", "constraint-missing-not-valid"),
        pattern=_ALTER + r".*\b(FOREIGN KEY|REFERENCES)\b",
        unless=r"\bNOT VALID\b",
        grows_with_table=True,
    ),
    Rule(
        "check-not-valid",
        "warning",
        "a CHECK constraint added without NOT VALID",
        dialects=_PG,
        everywhere=False,
        existing_table=True,
        why="Adding the constraint scans every row under ACCESS EXCLUSIVE: reads and writes"
        " wait for the whole scan.",
        rewrite="ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT in a later"
        " revision.",
        lock="ACCESS EXCLUSIVE during the scan",
        squawk=("constraint-missing-not-valid",),
        pattern=_ALTER + r".*\bADD (CONSTRAINT \S+ )?CHECK\b",
        unless=r"\bNOT VALID\b",
        grows_with_table=True,
    ),
    Rule(
        "validate-same-transaction",
        "warning",
        "VALIDATE CONSTRAINT in the revision that added it NOT VALID",
        dialects=_PG,
        everywhere=False,
        why="In one transaction the ADD's ACCESS EXCLUSIVE lock is still held while VALIDATE"
        " scans: NOT VALID then gains nothing.",
        rewrite="Validate in a separate, later revision.",
        lock="ACCESS EXCLUSIVE held from the ADD through the scan",
        squawk=("constraint-missing-not-valid",),
        grows_with_table=True,
    ),
    Rule(
        "volatile-default",
        "warning",
        "a column added with a volatile DEFAULT rewrites the table",
        dialects=_PG,
        everywhere=False,
        existing_table=True,
        why="Since PostgreSQL 11 a constant (or stable, like now()) default is stored once;"
        " a volatile one (random(), gen_random_uuid(), clock_timestamp(), nextval) is computed"
        " per row, rewriting the table under ACCESS EXCLUSIVE.",
        rewrite="Add the column without default, set the default, backfill in batches.",
        lock="ACCESS EXCLUSIVE with a table rewrite",
        applies=(Applies("postgresql", since="11"),),
        squawk=("adding-field-with-default",),
        pattern=_ALTER
        + r".*\bADD (COLUMN )?.*\bDEFAULT\b.*\b(RANDOM|GEN_RANDOM_UUID|UUID_GENERATE_V[14]"
        r"|CLOCK_TIMESTAMP|TIMEOFDAY|NEXTVAL|TXID_CURRENT)\s*\(",
        grows_with_table=True,
    ),
    Rule(
        "add-column-default-rewrite",
        "error",
        "before PostgreSQL 11, a column added with a DEFAULT rewrites the table",
        dialects=_PG,
        everywhere=False,
        existing_table=True,
        why="Every row is rewritten with the default under ACCESS EXCLUSIVE.",
        rewrite="Add the column without default, set the default separately (ALTER COLUMN SET"
        " DEFAULT), backfill in batches; or upgrade to PostgreSQL 11+.",
        lock="ACCESS EXCLUSIVE with a table rewrite",
        applies=(Applies("postgresql", until="11"),),
        squawk=("adding-field-with-default",),
        pattern=_ALTER + r".*\bADD (COLUMN )?.*\bDEFAULT\b",
        grows_with_table=True,
    ),
    Rule(
        "set-not-null",
        "warning",
        "SET NOT NULL scans the table under ACCESS EXCLUSIVE",
        dialects=_PG,
        everywhere=False,
        existing_table=True,
        why="Every row is checked while reads and writes wait. Not reported on PostgreSQL 12+"
        " when an earlier statement validated a CHECK (col IS NOT NULL): the scan is skipped.",
        rewrite="ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c in"
        " a later revision; then SET NOT NULL (PostgreSQL 12+ skips the scan thanks to the"
        " valid check) and drop the check.",
        lock="ACCESS EXCLUSIVE during the scan",
        squawk=("adding-not-nullable-field",),
        pattern=_ALTER + r".*\bALTER (COLUMN )?\S+ SET NOT NULL\b",
        grows_with_table=True,
    ),
    Rule(
        "add-primary-key-index",
        "warning",
        "ADD PRIMARY KEY builds its index under ACCESS EXCLUSIVE",
        dialects=_PG,
        everywhere=False,
        existing_table=True,
        why="The unique index is built while reads and writes wait (and NOT NULL is checked).",
        rewrite="CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT pk PRIMARY KEY USING"
        " INDEX that_index.",
        lock="ACCESS EXCLUSIVE during the index build",
        squawk=("adding-serial-primary-key-field",),
        pattern=_ALTER + r".*\bADD (CONSTRAINT \S+ )?PRIMARY KEY\b",
        unless=r"\bUSING INDEX\b",
        grows_with_table=True,
    ),
    Rule(
        "add-unique-constraint",
        "warning",
        "ADD UNIQUE builds its index under ACCESS EXCLUSIVE",
        dialects=_PG,
        everywhere=False,
        existing_table=True,
        why="The unique index is built while reads and writes wait.",
        rewrite="CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT u UNIQUE USING INDEX"
        " that_index.",
        lock="ACCESS EXCLUSIVE during the index build",
        squawk=("disallowed-unique-constraint",),
        pattern=_ALTER + r".*\bADD (CONSTRAINT \S+ )?UNIQUE\b",
        unless=r"\bUSING INDEX\b",
        grows_with_table=True,
    ),
    Rule(
        "add-serial-column",
        "warning",
        "adding a serial or identity column rewrites the table",
        dialects=_PG,
        everywhere=False,
        existing_table=True,
        why="Each existing row gets its own value: a full rewrite under ACCESS EXCLUSIVE.",
        rewrite="Add a nullable bigint column, attach a sequence default, backfill in batches.",
        lock="ACCESS EXCLUSIVE with a table rewrite",
        squawk=("adding-serial-primary-key-field",),
        pattern=_ALTER
        + r".*\bADD (COLUMN )?\S+ (BIG|SMALL)?SERIAL\b|"
        + _ALTER
        + r".*\bADD (COLUMN )?.*\bGENERATED (ALWAYS|BY DEFAULT) AS IDENTITY\b",
        grows_with_table=True,
    ),
    Rule(
        "add-stored-generated-column",
        "warning",
        "adding a STORED generated column rewrites (copies) the table",
        dialects=("postgresql", "mysql"),
        everywhere=False,
        existing_table=True,
        why="The value is computed and stored for every existing row: PostgreSQL rewrites the"
        " table under ACCESS EXCLUSIVE, MySQL copies it (ALGORITHM=COPY).",
        rewrite="Add a plain nullable column, backfill in batches, keep it filled by the"
        " application or a trigger; MySQL: a VIRTUAL generated column is INSTANT/INPLACE.",
        lock="PostgreSQL ACCESS EXCLUSIVE with a rewrite; MySQL ALGORITHM=COPY, LOCK=SHARED",
        squawk=("ban-alter-generated-expression",),
        pattern=_ALTER + r".*\bADD (COLUMN )?.*\b(GENERATED ALWAYS )?AS \(.*\) STORED\b",
        grows_with_table=True,
    ),
    Rule(
        "enum-value-added",
        "info",
        "ALTER TYPE ... ADD VALUE",
        dialects=_PG,
        everywhere=False,
        why="Before PostgreSQL 12 it cannot run inside a transaction block at all; since 12 the"
        " new value cannot be used until the transaction commits, and without BEFORE/AFTER"
        " it sorts last, which changes ORDER BY on the column.",
        rewrite="On PostgreSQL < 12 run it in an autocommit block; use the value in a later"
        " revision; say BEFORE/AFTER when the order matters.",
        lock="ACCESS EXCLUSIVE on the type (brief)",
        applies=(
            Applies("postgresql", until="12", severity="error"),
            Applies("postgresql", since="12"),
        ),
        squawk=("require-enum-value-ordering", "ban-add-enum-value"),
        pattern=r"^ALTER TYPE \S+ ADD VALUE\b",
    ),
    Rule(
        "enum-value-renamed",
        "error",
        "renaming or dropping an enum value breaks running code",
        dialects=_PG,
        everywhere=False,
        why="Code deployed before the migration still writes the old value and fails.",
        rewrite="Add the new value, move the rows and the code to it, stop using the old one;"
        " enum values cannot be dropped without recreating the type.",
        lock="ACCESS EXCLUSIVE on the type",
        pattern=r"^ALTER TYPE \S+ RENAME VALUE\b",
    ),
    Rule(
        "domain-constraint",
        "warning",
        "a CHECK on a domain (CREATE DOMAIN / ALTER DOMAIN)",
        dialects=_PG,
        everywhere=False,
        why="ALTER DOMAIN ADD CONSTRAINT scans every column of every table using the domain"
        " under lock; constraints on domains are also not checked on every path (NULLs from"
        " outer joins), so they are a weak guarantee.",
        rewrite="Put CHECK constraints on the tables (NOT VALID, then VALIDATE).",
        lock="SHARE on each table using the domain during the scan",
        squawk=("ban-create-domain-with-constraint", "ban-alter-domain-with-add-constraint"),
        pattern=r"^CREATE DOMAIN\b.*\bCHECK\b|^ALTER DOMAIN \S+ ADD\b",
        grows_with_table=True,
    ),
    Rule(
        "reindex-blocking",
        "warning",
        "REINDEX without CONCURRENTLY",
        dialects=_PG,
        everywhere=False,
        why="REINDEX locks out writes (and reads that use the index) for the whole rebuild.",
        rewrite="REINDEX ... CONCURRENTLY in an autocommit block (PostgreSQL 12+).",
        lock="SHARE on the table, ACCESS EXCLUSIVE on the index",
        applies=(Applies("postgresql", since="12"),),
        squawk=("require-concurrent-reindex",),
        pattern=r"^REINDEX\b",
        unless=r"^REINDEX (\(.*\) )?\S+ CONCURRENTLY\b",
        grows_with_table=True,
    ),
    Rule(
        "table-rewrite-command",
        "warning",
        "VACUUM FULL, CLUSTER or SET TABLESPACE rewrites the table under ACCESS EXCLUSIVE",
        dialects=_PG,
        everywhere=False,
        why="Reads and writes wait for the whole rewrite of the table and its indexes.",
        rewrite="pg_repack (or pg_squeeze) outside the migration, which holds the strong lock"
        " only briefly at the end.",
        lock="ACCESS EXCLUSIVE for the whole rewrite",
        squawk=("prefer-repack",),
        pattern=r"^(VACUUM (\(.*\bFULL\b.*\)|FULL)|CLUSTER\b)|"
        + _ALTER
        + r".*\bSET (TABLESPACE|LOGGED|UNLOGGED)\b",
        grows_with_table=True,
    ),
    Rule(
        "refresh-matview-blocking",
        "warning",
        "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks its readers",
        dialects=_PG,
        everywhere=False,
        why="Readers of the view wait for the whole refresh.",
        rewrite="REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view).",
        lock="ACCESS EXCLUSIVE on the view",
        pattern=r"^REFRESH MATERIALIZED VIEW\b",
        unless=r"^REFRESH MATERIALIZED VIEW CONCURRENTLY\b",
        grows_with_table=True,
    ),
    Rule(
        "detach-partition-blocking",
        "warning",
        "DETACH PARTITION without CONCURRENTLY",
        dialects=_PG,
        everywhere=False,
        why="Detaching takes ACCESS EXCLUSIVE on the parent table: every query on it waits.",
        rewrite="ALTER TABLE parent DETACH PARTITION child CONCURRENTLY (PostgreSQL 14+, in an"
        " autocommit block).",
        lock="ACCESS EXCLUSIVE on the parent",
        applies=(Applies("postgresql", since="14"),),
        squawk=("require-concurrent-partition-detach",),
        pattern=_ALTER + r".*\bDETACH PARTITION\b",
        unless=r"\bCONCURRENTLY\b|\bFINALIZE\b",
    ),
    Rule(
        "lock-table",
        "warning",
        "an explicit LOCK TABLE(S) in a revision",
        dialects=("postgresql", "mysql"),
        everywhere=False,
        why="The lock is held until the transaction (PostgreSQL) or session (MySQL) ends:"
        " every other query on the table waits for the rest of the migration.",
        rewrite="Let each statement take the lock it needs; keep the revision short.",
        lock="as named (PostgreSQL default ACCESS EXCLUSIVE)",
        pattern=r"^LOCK (TABLE|TABLES)?\b",
    ),
    Rule(
        "missing-lock-timeout",
        "warning",
        "a statement that takes a strong lock, with no lock timeout set",
        dialects=("postgresql", "mysql"),
        everywhere=False,
        why="An ALTER waiting for its lock behind one long transaction makes every later query"
        " on the table queue behind it: an outage from a statement that would take a"
        " millisecond.",
        rewrite="Keep the runner's deploy guard on (db_lock_timeout, 5 s by default, sets"
        " lock_timeout / lock_wait_timeout and retries the revision); where a target turns it"
        " off, SET lock_timeout = '5s' at the start of the revision and retry on timeout.",
        lock="any ACCESS EXCLUSIVE / metadata lock",
        squawk=("require-timeout-settings", "require-lock-timeout"),
    ),
    Rule(
        "missing-statement-timeout",
        "info",
        "a statement that can run long, with no statement timeout set",
        dialects=_PG,
        everywhere=False,
        why="An index build or table rewrite that runs far longer than planned holds its lock"
        " until it ends.",
        rewrite="Declare statement_timeout in targets.toml (the runner sets it for the run), or"
        " SET statement_timeout in the revision.",
        lock="any",
        squawk=("require-timeout-settings", "require-statement-timeout"),
    ),
]
RULES = [replace(r, family=_FAMILY) for r in RULES]
