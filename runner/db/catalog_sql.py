"""Catalog SQL, per dialect: what SQLAlchemy's Inspector does not say, and the one
cheap query behind a schema fingerprint.

Each backend record (:mod:`runner.db.backends`) holds its dialect's record as
``catalog``; the rest of the runner asks it and never compares dialect names.
Every query returns rows of ``(kind, object, detail)`` (fingerprint) or
``(kind, name, definition)`` (objects), for the schema given as the ``:schema``
parameter, so the caller can drop what the include/exclude patterns leave out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogSql:
    """The catalog queries of one dialect."""

    # One query, every row that the fingerprint digests: (kind, object name, detail).
    fingerprint: str
    # Objects SQLAlchemy cannot express (functions, triggers, rules, events):
    # (kind, name, definition). "" when the definition is fetched per object.
    programs: str = ""
    # Sequences that no column owns (serial/identity ones come with their table):
    # (name, CREATE statement or parameters).
    sequences: str = ""
    # Which schema a connection works in (the default for ``schemas``).
    current_schema: str = ""
    # Per object: the statement that prints its definition ({name} is quoted).
    show_create: tuple[tuple[str, str], ...] = ()
    # The definitions are whole CREATE statements (SQLite's sqlite_master).
    verbatim: bool = False
    # What a baseline revision imports for the dialect's types (postgresql.ENUM, ...).
    alembic_import: str = ""
    # A foreign key makes an index named after it when none covers its columns
    # (MySQL/MariaDB): a baseline leaves that index to the key.
    fk_makes_index: bool = False
    # Definitions name objects with the database's own name (MySQL's views:
    # `shop`.`orders`), which a copy under another name does not share: this
    # template of the qualifier ({schema}) is removed before digesting.
    own_qualifier: str = ""


# SQLite keeps each object's definition as its CREATE statement: that statement is
# the whole truth (PRAGMA table_info and friends derive from it).
SQLITE = CatalogSql(
    fingerprint=(
        "SELECT type, tbl_name, name || char(31) || coalesce(sql, '') FROM sqlite_master"
        " WHERE name NOT LIKE 'sqlite_%'"
    ),
    verbatim=True,
    alembic_import="from sqlalchemy.dialects import sqlite",
)

# PostgreSQL: columns (type, nullability, default, identity, generated), every
# constraint as pg_get_constraintdef prints it, indexes from pg_index itself (name,
# access method, unique, columns, operator classes and options, expressions and
# predicate: pg_get_indexdef was most of the query's time), views' queries,
# sequences' parameters, enum labels, functions, triggers and rules: one round
# trip over pg_catalog.
_PG_FINGERPRINT = """
SELECT 'column', c.relname, a.attnum || ' ' || a.attname || ' ' ||
       format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' ' ||
       a.attidentity::text || a.attgenerated::text || ' ' ||
       coalesce(pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', c.relname, k.conname || ' ' || pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema
UNION ALL
SELECT 'index', t.relname, x.relname || ' ' || am.amname || ' ' || i.indisunique || ' ' ||
       i.indkey::text || ' ' || i.indoption::text || ' ' ||
       -- Operator classes by OID: the built-in ones (below 10000) are the same in every
       -- database, an extension's are not, so those read "x" (cheaper than a join).
       regexp_replace(i.indclass::text, '[0-9]{5,}', 'x', 'g') || ' ' ||
       coalesce(pg_get_expr(i.indexprs, i.indrelid), '') || ' ' ||
       coalesce(pg_get_expr(i.indpred, i.indrelid), '')
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class x ON x.oid = i.indexrelid
JOIN pg_am am ON am.oid = x.relam
JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = :schema
UNION ALL
SELECT 'view', c.relname, pg_get_viewdef(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'sequence', c.relname, s.seqtypid::regtype || ' ' || s.seqstart || ' ' ||
       s.seqincrement || ' ' || s.seqmin || ' ' || s.seqmax || ' ' || s.seqcycle
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema
UNION ALL
SELECT 'enum', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = :schema GROUP BY t.typname
UNION ALL
SELECT 'extension', e.extname, e.extversion
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = :schema
UNION ALL
SELECT 'domain', t.typname, format_type(t.typbasetype, t.typtypmod) || ' ' || t.typnotnull ||
       ' ' || coalesce(t.typdefault, '') || ' ' || coalesce((SELECT string_agg(k.conname || ' ' ||
       pg_get_constraintdef(k.oid), ',' ORDER BY k.conname) FROM pg_constraint k
       WHERE k.contypid = t.oid), '')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = :schema AND t.typtype = 'd'
UNION ALL
SELECT 'function', p.proname, pg_get_function_identity_arguments(p.oid) || ' ' ||
       md5(coalesce(p.prosrc, ''))
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = :schema
  AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.objid = p.oid AND x.deptype = 'e')
UNION ALL
SELECT 'trigger', c.relname, pg_get_triggerdef(g.oid)
FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND NOT g.tgisinternal
UNION ALL
SELECT 'rule', c.relname, pg_get_ruledef(r.oid)
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND r.rulename <> '_RETURN'
"""

_PG_PROGRAMS = """
SELECT 'extension', e.extname, 'CREATE EXTENSION IF NOT EXISTS ' || quote_ident(e.extname) ||
       ' WITH SCHEMA ' || quote_ident(n.nspname)
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE n.nspname = :schema AND e.extname <> 'plpgsql'
UNION ALL
SELECT 'domain', t.typname, 'CREATE DOMAIN ' || quote_ident(t.typname) || ' AS ' ||
       format_type(t.typbasetype, t.typtypmod) || coalesce(' DEFAULT ' || t.typdefault, '') ||
       CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END ||
       coalesce((SELECT string_agg(' CONSTRAINT ' || quote_ident(k.conname) || ' ' ||
                                   pg_get_constraintdef(k.oid), '' ORDER BY k.conname)
                 FROM pg_constraint k WHERE k.contypid = t.oid), '')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = :schema AND t.typtype = 'd'
UNION ALL
SELECT 'function', p.oid::regprocedure::text, pg_get_functiondef(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = :schema AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.objid = p.oid AND x.deptype = 'e')
UNION ALL
SELECT 'trigger', g.tgname || ' on ' || c.relname, pg_get_triggerdef(g.oid)
FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND NOT g.tgisinternal
UNION ALL
SELECT 'rule', r.rulename || ' on ' || c.relname, pg_get_ruledef(r.oid)
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND r.rulename <> '_RETURN'
"""

# Sequences no column owns (a serial's sequence is made by its column, an identity's
# by its identity): ``pg_depend`` deptype 'a' (auto) or 'i' (internal) on a column.
_PG_SEQUENCES = """
SELECT c.relname, 'AS ' || format_type(s.seqtypid, NULL) || ' START WITH ' || s.seqstart ||
       ' INCREMENT BY ' || s.seqincrement || ' MINVALUE ' || s.seqmin ||
       ' MAXVALUE ' || s.seqmax || ' CACHE ' || s.seqcache ||
       CASE WHEN s.seqcycle THEN ' CYCLE' ELSE ' NO CYCLE' END
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND NOT EXISTS (
    SELECT 1 FROM pg_depend d WHERE d.objid = s.seqrelid AND d.classid = 'pg_class'::regclass
      AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i'))
ORDER BY c.oid
"""

POSTGRESQL = CatalogSql(
    fingerprint=_PG_FINGERPRINT,
    programs=_PG_PROGRAMS,
    sequences=_PG_SEQUENCES,
    current_schema="SELECT current_schema()",
    alembic_import="from sqlalchemy.dialects import postgresql",
)

# MySQL/MariaDB: information_schema, without the database's name (a replica or
# another tenant has another one). Sequences (MariaDB 10.3+) are tables of type
# SEQUENCE; their parameters are in the table itself, read by SHOW CREATE.
_MYSQL_FINGERPRINT = """
SELECT 'column', TABLE_NAME, CONCAT_WS(' ', ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE,
       IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '-'), EXTRA, COALESCE(COLLATION_NAME, ''))
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = :schema
UNION ALL
SELECT 'index', TABLE_NAME, CONCAT_WS(' ', INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX,
       COALESCE(COLUMN_NAME, ''), COALESCE(SUB_PART, ''), INDEX_TYPE)
FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = :schema
UNION ALL
SELECT 'foreign key', TABLE_NAME, CONCAT_WS(' ', CONSTRAINT_NAME, UNIQUE_CONSTRAINT_NAME,
       REFERENCED_TABLE_NAME, UPDATE_RULE, DELETE_RULE)
FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = :schema
UNION ALL
SELECT 'key column', TABLE_NAME, CONCAT_WS(' ', CONSTRAINT_NAME, COLUMN_NAME,
       ORDINAL_POSITION, COALESCE(REFERENCED_COLUMN_NAME, ''))
FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = :schema
UNION ALL
SELECT 'check', TABLE_NAME, CONCAT_WS(' ', CONSTRAINT_NAME, CHECK_CLAUSE)
FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = :schema
UNION ALL
SELECT 'table', TABLE_NAME, CONCAT_WS(' ', TABLE_TYPE, COALESCE(ENGINE, ''),
       COALESCE(TABLE_COLLATION, ''))
FROM information_schema.TABLES WHERE TABLE_SCHEMA = :schema
UNION ALL
SELECT 'view', TABLE_NAME, VIEW_DEFINITION
FROM information_schema.VIEWS WHERE TABLE_SCHEMA = :schema
UNION ALL
SELECT 'trigger', EVENT_OBJECT_TABLE, CONCAT_WS(' ', TRIGGER_NAME, ACTION_TIMING,
       EVENT_MANIPULATION, ACTION_STATEMENT)
FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = :schema
UNION ALL
SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, ROUTINE_DEFINITION
FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = :schema
UNION ALL
SELECT 'event', EVENT_NAME, CONCAT_WS(' ', EVENT_DEFINITION, COALESCE(INTERVAL_VALUE, ''),
       COALESCE(INTERVAL_FIELD, ''))
FROM information_schema.EVENTS WHERE EVENT_SCHEMA = :schema
"""

_MYSQL_PROGRAMS = """
SELECT 'trigger', TRIGGER_NAME, '' FROM information_schema.TRIGGERS
WHERE TRIGGER_SCHEMA = :schema
UNION ALL
SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, '' FROM information_schema.ROUTINES
WHERE ROUTINE_SCHEMA = :schema
UNION ALL
SELECT 'event', EVENT_NAME, '' FROM information_schema.EVENTS WHERE EVENT_SCHEMA = :schema
"""

MYSQL = CatalogSql(
    fingerprint=_MYSQL_FINGERPRINT,
    programs=_MYSQL_PROGRAMS,
    sequences=(
        "SELECT TABLE_NAME, '' FROM information_schema.TABLES"
        " WHERE TABLE_SCHEMA = :schema AND TABLE_TYPE = 'SEQUENCE' ORDER BY TABLE_NAME"
    ),
    current_schema="SELECT DATABASE()",
    own_qualifier="`{schema}`.",
    alembic_import="from sqlalchemy.dialects import mysql",
    fk_makes_index=True,
    # The column of SHOW CREATE ... that holds the statement is the second (a
    # sequence, a view) or the third (a trigger, a routine, an event).
    show_create=(
        ("trigger", "SHOW CREATE TRIGGER {name}"),
        ("procedure", "SHOW CREATE PROCEDURE {name}"),
        ("function", "SHOW CREATE FUNCTION {name}"),
        ("event", "SHOW CREATE EVENT {name}"),
        ("sequence", "SHOW CREATE SEQUENCE {name}"),
    ),
)
