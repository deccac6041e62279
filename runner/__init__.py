"""docker-alembic runner: drive many isolated Alembic projects from one place."""

from __future__ import annotations

# The single source of the version (pyproject.toml reads it). A literal, not
# importlib.metadata: that import alone costs ~20 ms on every CLI start.
__version__ = "0.1.0"
