"""The text and stateful checks of ``runner lint``, run before a statement is parsed.

Most rules of the families (:mod:`runner.lint.families`) are *text rules*: a
``pattern`` searched in the statement with whitespace collapsed and case folded,
and an ``unless`` that clears it. They are compiled once; a cheap prefilter (the
statement's first word, against the first words each pattern can start with)
skips the rules that cannot match, so a revision of inserts costs almost nothing.

The rest need memory across statements and are written out here:
``validate-same-transaction``, ``missing-lock-timeout`` /
``missing-statement-timeout``, ``mysql-implicit-commit``, ``identifier-too-long``,
``concurrently-in-transaction`` (which knows Alembic's autocommit blocks) and
``drop-indexed-column`` (which remembers the indexes earlier revisions built) and
``set-not-null`` (which knows a validated ``CHECK (col IS NOT NULL)`` makes it cheap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runner.lint.rule import flavour_of
from runner.lint.rules import RULES, Rule

if TYPE_CHECKING:
    from runner.lint.sql import _RevisionState


@dataclass
class Seen:
    """What earlier revisions built, in upgrade order, that later checks depend on."""

    # table -> the column sets of its indexes (and unique / primary keys)
    indexes: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    # CHECK (col IS NOT NULL) constraints: name -> (table, column, validated)
    not_null_checks: dict[str, tuple[str, str, bool]] = field(default_factory=dict)

    def proves_not_null(self, table: str, column: str) -> bool:
        return any(c[:2] == (table, column) and c[2] for c in self.not_null_checks.values())


@dataclass(frozen=True)
class Guards:
    """Timeouts the runner itself sets for every target (targets.toml), so a revision
    needs no ``SET lock_timeout`` of its own."""

    lock_timeout: bool = False
    statement_timeout: bool = False


@dataclass
class Memory:
    """What one revision's checks remember between its statements."""

    outside_transaction: bool = False  # between an autocommit block's COMMIT and BEGIN
    not_valid: set[str] = field(default_factory=set)
    lock_timeout: bool = False
    statement_timeout: bool = False
    reported: set[str] = field(default_factory=set)  # once-per-revision rules
    statements: int = 0
    ddl: int = 0


@dataclass(frozen=True)
class _TextRule:
    rule: Rule
    pattern: re.Pattern[str]
    unless: re.Pattern[str] | None
    first_words: frozenset[str] | None  # None: any statement


def _first_words(pattern: str) -> frozenset[str] | None:
    """The leading keywords a ``^``-anchored pattern (or each of its ``|`` branches) can
    start with; ``None`` when a branch is not anchored (the rule reads every statement)."""
    words: set[str] = set()
    for branch in re.split(r"\|(?![^()]*\))", pattern):
        match = re.match(r"\^\(?([A-Z_]+)", branch)
        if match is None:
            return None
        words.add(match[1])
        # "^(VACUUM ...|CLUSTER)" style groups name more first words (more is only slower).
        words.update(re.findall(r"[(|]([A-Z_]+)", branch))
    return frozenset(words)


_TEXT_RULES = [
    _TextRule(
        rule,
        re.compile(rule.pattern),
        re.compile(rule.unless) if rule.unless else None,
        _first_words(rule.pattern),
    )
    for rule in RULES.values()
    if rule.pattern
]
_FIRST_WORD = re.compile(r"^\(?([A-Z_]+)")
_ALTERED = re.compile(r"^ALTER (?:ONLINE |IGNORE )?TABLE (?:IF EXISTS )?(?:ONLY )?(\S+)")
# The table a locking statement is about (ALTER, TRUNCATE, DROP TABLE, LOCK, CREATE INDEX).
_TARGET = re.compile(
    r"^(?:ALTER (?:ONLINE |IGNORE )?TABLE|TRUNCATE(?: TABLE)?|DROP TABLE|LOCK(?: TABLES?)?)"
    r" (?:IF EXISTS )?(?:ONLY )?(\S+)|^CREATE (?:UNIQUE )?INDEX .*? ON (?:ONLY )?(\S+)"
)
# A new table's foreign keys lock the tables they reference (SHARE ROW EXCLUSIVE).
_STRONG_LOCK = re.compile(
    r"^(ALTER (TABLE|TYPE|DOMAIN)|DROP (TABLE|INDEX)(?! CONCURRENTLY)|CREATE (UNIQUE )?INDEX"
    r"(?! CONCURRENTLY)|TRUNCATE|RENAME TABLE|REINDEX|CLUSTER|VACUUM FULL|LOCK"
    r"|CREATE TABLE .*\bREFERENCES\b)"
)
_LONG = re.compile(r"^(CREATE (UNIQUE )?INDEX|ALTER TABLE|REINDEX|CLUSTER|VACUUM|UPDATE|DELETE)\b")
_DDL = re.compile(r"^(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b")
_SET_LOCK = re.compile(
    r"^SET (LOCAL |SESSION |@@SESSION\.|@@)?(LOCK_TIMEOUT|LOCK_WAIT_TIMEOUT|"
    r"INNODB_LOCK_WAIT_TIMEOUT)\b"
)
_SET_STATEMENT = re.compile(
    r"^SET (LOCAL |SESSION |@@SESSION\.|@@)?(STATEMENT_TIMEOUT|MAX_EXECUTION_TIME"
    r"|MAX_STATEMENT_TIME)\b"
)
_NOT_VALID = re.compile(r"\bADD CONSTRAINT (\S+) .*\bNOT VALID\b")
_VALIDATE = re.compile(r"\bVALIDATE CONSTRAINT (\S+)")
_CREATE_INDEX = re.compile(
    r"^CREATE (?:UNIQUE |FULLTEXT |SPATIAL )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?\S+"
    r" ON (?:ONLY )?(\S+)(?: USING \S+)? ?\((.*)\)"
)
_TABLE_KEY = re.compile(
    r"\b(?:PRIMARY KEY|UNIQUE(?: KEY| INDEX)?|KEY|INDEX)(?: \S+)? ?\(([^()]*)\)"
)
_DROP_COLUMN = re.compile(
    r"\bDROP (?:COLUMN )?(?:IF EXISTS )?(?!CONSTRAINT|INDEX|KEY|PRIMARY)(\S+)"
)
_IDENTIFIER = re.compile(r'"([^"]+)"|`([^`]+)`|\b([A-Za-z_][A-Za-z0-9_$]*)')
_STRING = re.compile(r"'(?:[^']|'')*'")


def unquote(name: str) -> str:
    """``"Public"."Orders"`` -> ``public.orders``: how tables are compared."""
    return re.sub(r'["`\[\]]', "", name).rstrip(",;(").lower()


_LEADING_COMMENTS = re.compile(r"^\s*(?:--[^\n]*(?:\n|$)\s*|/\*.*?\*/\s*)*", re.DOTALL)


def run(state: _RevisionState, statement: str) -> None:
    """Every text and stateful rule on one statement (before it is parsed)."""
    # Comments before a statement (SQL revision files have them) hide its first word.
    norm = " ".join(_LEADING_COMMENTS.sub("", statement).split()).upper()
    memory = state.memory
    memory.statements += 1
    first = _FIRST_WORD.match(norm)
    word = first[1] if first else ""
    target = _TARGET.match(norm)
    existing = target is None or unquote(target[1] or target[2]) not in state.created
    _not_null_checks(state, norm)
    for text in _TEXT_RULES:
        if text.first_words is not None and word not in text.first_words:
            continue
        if text.rule.existing_table and not existing:
            continue
        if text.pattern.search(norm) and not (text.unless and text.unless.search(norm)):
            if text.rule.id == "concurrently-in-transaction" and memory.outside_transaction:
                continue
            if text.rule.id == "set-not-null" and _proven(state, norm):
                continue
            state.add(text.rule.id, text.rule.summary, statement)
    _transactions(state, norm, word, statement)
    _timeouts(state, norm, existing, statement)
    _identifiers(state, norm, statement)
    _indexes(state, norm, statement)


_NOT_NULL_CHECK = re.compile(
    r"\bADD CONSTRAINT (\S+) CHECK ?\(+ ?(\S+?) IS NOT NULL ?\)+( NOT VALID)?"
)
_SET_NOT_NULL = re.compile(r"\bALTER (?:COLUMN )?(\S+) SET NOT NULL\b")


def _not_null_checks(state: _RevisionState, norm: str) -> None:
    """Remember CHECK (col IS NOT NULL) constraints and their validation."""
    altered = _ALTERED.match(norm)
    found = _NOT_NULL_CHECK.search(norm)
    if altered and found:
        table, column = unquote(altered[1]), unquote(found[2])
        state.seen.not_null_checks[unquote(found[1])] = (table, column, not found[3])
    validated = _VALIDATE.search(norm)
    if validated and unquote(validated[1]) in state.seen.not_null_checks:
        table, column, _ = state.seen.not_null_checks[unquote(validated[1])]
        state.seen.not_null_checks[unquote(validated[1])] = (table, column, True)


def _proven(state: _RevisionState, norm: str) -> bool:
    """SET NOT NULL that PostgreSQL 12+ does without a scan: a validated check proves it."""
    altered = _ALTERED.match(norm)
    column = _SET_NOT_NULL.search(norm)
    if altered is None or column is None:
        return False
    _, _, version = flavour_of(state.kind.name, state.server_version)
    return version >= (12,) and state.seen.proves_not_null(unquote(altered[1]), unquote(column[1]))


def _transactions(state: _RevisionState, norm: str, word: str, statement: str) -> None:
    memory = state.memory
    if state.autocommit and word == "COMMIT":
        memory.outside_transaction = True
    elif state.autocommit and word in {"BEGIN", "START"}:
        memory.outside_transaction = False
    found = _NOT_VALID.search(norm)
    if found:
        memory.not_valid.add(unquote(found[1]))
    found = _VALIDATE.search(norm)
    if found and unquote(found[1]) in memory.not_valid and not memory.outside_transaction:
        state.add(
            "validate-same-transaction",
            f"constraint {unquote(found[1])} is validated in the transaction that added it NOT"
            " VALID: validate it in a later revision",
            statement,
        )
    if _DDL.match(norm):
        memory.ddl += 1
    if memory.ddl and memory.statements > 1 and "mysql-implicit-commit" not in memory.reported:
        memory.reported.add("mysql-implicit-commit")
        state.add(
            "mysql-implicit-commit",
            "this revision mixes several statements with DDL: MySQL commits after each DDL"
            " statement, so a failure here leaves the ones before it applied",
            statement,
        )


def _timeouts(state: _RevisionState, norm: str, existing: bool, statement: str) -> None:
    memory = state.memory
    if _SET_LOCK.match(norm):
        memory.lock_timeout = True
    if _SET_STATEMENT.match(norm):
        memory.statement_timeout = True
    referenced = {unquote(t) for t in re.findall(r"\bREFERENCES (\S+?) ?\(", norm)}
    if norm.startswith("CREATE TABLE") and referenced <= state.created:
        return  # its keys reference only tables made in this revision
    if not existing:
        return  # a table made in this revision: nobody else is waiting on it
    guards = state.guards
    unguarded = not (memory.lock_timeout or guards.lock_timeout)
    if _STRONG_LOCK.match(norm) and unguarded and "missing-lock-timeout" not in memory.reported:
        memory.reported.add("missing-lock-timeout")
        state.add(
            "missing-lock-timeout",
            "this statement waits for a strong lock with no lock timeout: a target turns"
            " the deploy guard off (db_lock_timeout = 0 in targets.toml); keep it on, or"
            " SET lock_timeout first",
            statement,
        )
    unbounded = not (memory.statement_timeout or guards.statement_timeout)
    if _LONG.match(norm) and unbounded and "missing-statement-timeout" not in memory.reported:
        memory.reported.add("missing-statement-timeout")
        state.add(
            "missing-statement-timeout",
            "this statement can run long with no statement timeout: declare"
            " statement_timeout in targets.toml, or SET statement_timeout first",
            statement,
        )


def _identifiers(state: _RevisionState, norm: str, statement: str) -> None:
    limit = state.kind.max_identifier_length
    if limit is None or not _DDL.match(norm):
        return
    for match in _IDENTIFIER.finditer(_STRING.sub("''", statement)):
        name = next(group for group in match.groups() if group is not None)
        if len(name.encode("utf-8")) > limit:
            state.add(
                "identifier-too-long",
                f"identifier {name[:20]}... is {len(name.encode('utf-8'))} bytes, over the"
                f" {state.kind.label} limit of {limit}",
                statement,
            )
            return


def _indexes(state: _RevisionState, norm: str, statement: str) -> None:
    """Remember index columns; report a DROP COLUMN of an indexed column."""
    found = _CREATE_INDEX.match(norm)
    if found:
        state.seen.indexes.setdefault(unquote(found[1]), []).append(_columns(found[2]))
        return
    if norm.startswith("CREATE TABLE"):
        created = re.match(r"^CREATE TABLE (?:IF NOT EXISTS )?(\S+?)\s?\(", norm)
        if created:
            keys = [_columns(k) for k in _TABLE_KEY.findall(norm)]
            state.seen.indexes[unquote(created[1])] = keys
        return
    altered = _ALTERED.match(norm)
    if altered is None:
        return
    table = unquote(altered[1])
    for key in _TABLE_KEY.findall(norm.split(" ", 3)[-1]):
        state.seen.indexes.setdefault(table, []).append(_columns(key))
    for dropped in _DROP_COLUMN.findall(norm):
        column = unquote(dropped)
        used = [k for k in state.seen.indexes.get(table, []) if column in k]
        if used:
            state.add(
                "drop-indexed-column",
                f"{table}.{column} is in an index on ({', '.join(sorted(used[0]))}): drop or"
                " replace the index first",
                statement,
            )


def _columns(listed: str) -> frozenset[str]:
    return frozenset(unquote(part.split()[0]) for part in listed.split(",") if part.split())
