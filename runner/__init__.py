"""docker-alembic runner: drive many isolated Alembic projects from one place."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("docker-alembic")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
