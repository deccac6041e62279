"""Databases: the facts of each backend, targets, connections, locks, throw-away databases.

The lowest stage but output: nothing here knows about projects or Alembic runs.
"""

from __future__ import annotations

# How long a writing run waits for another run's lock, in seconds (--lock-timeout).
# Here, not in locking.py, so the CLI can show it without importing SQLAlchemy.
DEFAULT_LOCK_TIMEOUT = 60.0

# The deploy guard (runner/db/guard.py): how long one statement may wait for a table
# lock before it gives up (db_lock_timeout; 0 turns the guard off), how often a revision
# that gave up is tried again (lock_retries), and the first pause between attempts
# (lock_retry_backoff, doubled each time, with jitter).
DEFAULT_DB_LOCK_TIMEOUT = 5.0
DEFAULT_LOCK_RETRIES = 3
DEFAULT_LOCK_RETRY_BACKOFF = 2.0
