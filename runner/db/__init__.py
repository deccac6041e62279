"""Databases: the facts of each backend, targets, connections, locks, throw-away databases.

The lowest stage but output: nothing here knows about projects or Alembic runs.
"""

from __future__ import annotations

# How long a writing run waits for another run's lock, in seconds (--lock-timeout).
# Here, not in locking.py, so the CLI can show it without importing SQLAlchemy.
DEFAULT_LOCK_TIMEOUT = 60.0
