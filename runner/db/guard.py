"""The deploy guard: a statement may wait for a table lock only so long.

An ``ALTER TABLE`` waiting for its ``ACCESS EXCLUSIVE`` lock behind one long
transaction makes every later query on that table queue behind it: the outage
is the wait, not the ALTER. So every runner connection to a target gets a lock
wait (``db_lock_timeout``, 5 s unless the target says otherwise; ``0`` turns it
off): PostgreSQL ``lock_timeout``, MySQL/MariaDB ``lock_wait_timeout`` and
``innodb_lock_wait_timeout``. A statement that gives up rolls its revision back,
and the write path (:mod:`runner.run.retry`) tries again after a pause.

Some statements wait for older transactions by design and must not be cut
short: ``CREATE INDEX CONCURRENTLY`` (and ``DROP INDEX``/``REINDEX``/``DETACH
PARTITION ... CONCURRENTLY``) would fail halfway and leave an invalid index.
They run with the lock wait lifted for that one statement (the backend's
``lock_exempt`` pattern); they take no lock that blocks reads or writes, so
waiting is harmless.

This module also reads who holds a table's locks (PostgreSQL ``pg_locks``) or,
where that cannot be read per table (MySQL/MariaDB metadata locks), who has a
transaction open: the blocker an error names, and what a plan shows.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

from runner.db.backends import Backend
from runner.db.tables import TableName
from runner.output.results import LockSession

log = logging.getLogger("runner")


def exempt_waiting_statements(engine: Engine, kind: Backend, lock_wait: float) -> None:
    """Lift the lock wait of ``engine``'s connections around each statement matching
    ``kind.lock_exempt``, and put it back afterwards (also when the statement fails)."""
    if not kind.lock_exempt or not kind.lock_wait_off_sql:
        return
    pattern = re.compile(kind.lock_exempt, re.IGNORECASE | re.DOTALL)
    off = kind.lock_wait_off_sql
    restore = kind.lock_wait_statements(lock_wait)

    def run_raw(connection: Any, statements: list[str]) -> None:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()

    @event.listens_for(engine, "before_cursor_execute")
    def _lift(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if pattern.search(statement):
            log.info("lock wait lifted for: %s", " ".join(statement.split())[:120])
            run_raw(connection, [off])
            connection.info["runner_lock_wait_lifted"] = True

    def _put_back(connection: Any) -> None:
        if connection.info.pop("runner_lock_wait_lifted", False):
            try:
                run_raw(connection, restore)
            except Exception as exc:  # a failed transaction refuses SET: the session ends soon
                log.warning("could not restore the lock wait (%s): later statements of"
                            " this run may wait for locks without a limit", exc)  # fmt: skip

    @event.listens_for(engine, "after_cursor_execute")
    def _after(connection: Any, *_: Any) -> None:
        _put_back(connection)

    @event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        if context.connection is not None and not context.is_disconnect:
            _put_back(context.connection)


def holders(connection: Connection, kind: Backend, table: TableName) -> list[LockSession]:
    """Other sessions holding or awaiting a lock on ``table`` (PostgreSQL), one per
    session with its lock modes; ``[]`` where the backend cannot say."""
    if not kind.lock_holders_sql:
        return []
    rows = connection.execute(text(kind.lock_holders_sql), _names(table)).fetchall()
    found: dict[int, LockSession] = {}
    for pid, user, application, state, seconds, mode, granted in rows:
        session = found.get(pid)
        if session is None:
            session = found[pid] = LockSession(
                int(pid), str(user or ""), str(application or ""), str(state or ""),
                None if seconds is None else int(seconds), [], waiting=not granted,
            )  # fmt: skip
        if mode not in session.locks:
            session.locks.append(str(mode))
    return list(found.values())


def open_transactions(connection: Connection, kind: Backend) -> list[LockSession]:
    """Other sessions with a transaction open (MySQL/MariaDB): the candidates for a
    metadata lock that cannot be read per table."""
    if not kind.open_transactions_sql:
        return []
    rows = connection.execute(text(kind.open_transactions_sql)).fetchall()
    found = []
    for pid, user, host, command, seconds in rows:
        opened = None if seconds is None else int(seconds)
        state = f"{str(command or '?').lower()}, from {host}" if host else str(command or "")
        found.append(LockSession(int(pid), str(user or ""), "", state.lower(), opened))
    return found


def blockers(connection: Connection, kind: Backend, tables: list[TableName]) -> str:
    """Who is likely in the way, in words, for an error line ("" when nobody is seen)."""
    try:
        held = [s for t in tables for s in holders(connection, kind, t) if not s.waiting]
        if held:
            return "held by " + "; ".join(s.describe() for s in held[:3])
        others = open_transactions(connection, kind)
        if others:
            shown = "; ".join(s.describe() for s in others[:3])
            return f"sessions with an open transaction (one of them holds it): {shown}"
    except Exception as exc:  # a view this user may not read: the error still stands
        log.debug("could not read the lock holders: %s", exc)
    finally:
        if connection.in_transaction():
            connection.rollback()
    return ""


def _names(table: TableName) -> dict[str, Any]:
    return {"name": table.name, "schema": table.schema, "qualified": table.qualified}


def size(
    connection: Connection, kind: Backend, table: TableName
) -> tuple[int | None, int | None] | None:
    """(estimated rows, total bytes) of ``table``, each None when unknown; ``None`` when
    the table does not exist (yet: the plan creates it)."""
    if not kind.table_size_sql:
        return None
    row = connection.execute(text(kind.table_size_sql), _names(table)).first()
    if row is None:
        return None
    return (None if row[0] is None else int(row[0])), (None if row[1] is None else int(row[1]))
