"""A database to run against: its URL, where the URL came from, and its backend.

Every URL the runner reads (a project's, or a test server's admin URL) goes
through :func:`parse_url`, the one place that turns user text into a SQLAlchemy
URL: the password is registered for scrubbing before anything can print it,
and a bare ``postgresql://`` or ``mysql://`` gets the driver the runner ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from runner.db import DEFAULT_DB_LOCK_TIMEOUT, DEFAULT_LOCK_RETRIES, DEFAULT_LOCK_RETRY_BACKOFF
from runner.db.backends import SQLITE, Backend, backend
from runner.errors import ConfigError
from runner.output import redact

URL_SHAPE = "dialect+driver://user:password@host:port/database"


def parse_url(
    raw: str, source: str, *, what: str = "database URL", project: str | None = None
) -> URL:
    """Parse ``raw`` (read from ``source``); a bad URL is a :class:`ConfigError`.

    The error never echoes the text: it may hold a password.
    """
    if not raw.strip():
        raise ConfigError(
            f"the {what} from {source} is empty: set it to a URL ({URL_SHAPE}), or unset it",
            project=project,
        )
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ConfigError(
            f"the {what} from {source} is not a valid SQLAlchemy URL (expected {URL_SHAPE})",
            project=project,
        ) from exc
    redact.register(url.password if isinstance(url.password, str) else None)
    for name, value in url.query.items():  # ?password=... works with psycopg and PyMySQL
        if redact.credential_parameter(name):
            for item in (value,) if isinstance(value, str) else value:
                redact.register(item)
    if "+" not in url.drivername:  # a bare scheme: the driver we ship, not SQLAlchemy's default
        found = backend(url.drivername)
        if found.default_driver:
            scheme = found.name if url.drivername in found.legacy_schemes else url.drivername
            url = url.set(drivername=f"{scheme}+{found.default_driver}")
    return url


@dataclass(frozen=True)
class Session:
    """Settings of every connection to a target (from its targets file): the statement
    timeout and the lock wait of the database session, PostgreSQL's search_path, and
    how a write retries a revision that gave up waiting for a lock.

    ``None`` is "not set": the lock wait is then the deploy guard's default where the
    backend has one (``0`` turns it off), and so are the retries."""

    statement_timeout: float | None = None
    db_lock_timeout: float | None = None
    schema: str | None = None
    lock_retries: int | None = None
    lock_retry_backoff: float | None = None

    def lock_wait(self, backend: Backend) -> float | None:
        """The lock wait to set on ``backend`` (None: set none, the server's own applies).
        Set explicitly on a backend without one, it stays, for the error that says so."""
        if self.db_lock_timeout is None:
            return DEFAULT_DB_LOCK_TIMEOUT if backend.lock_wait_sql else None
        return self.db_lock_timeout or None

    @property
    def retries(self) -> int:
        return DEFAULT_LOCK_RETRIES if self.lock_retries is None else self.lock_retries

    @property
    def backoff(self) -> float:
        if self.lock_retry_backoff is None:
            return DEFAULT_LOCK_RETRY_BACKOFF
        return self.lock_retry_backoff


@dataclass(frozen=True)
class SizeLimits:
    """When a table is large enough that a blocking operation on it is an error, or small
    enough that it is only worth a note (``plan``; rows are the planner's estimate)."""

    large_rows: int = 1_000_000
    large_bytes: int = 1 << 30  # 1 GiB
    small_rows: int = 10_000


@dataclass(frozen=True)
class Target:
    """A resolved database URL for one project, and where it came from.

    ``name`` is the declared target it reaches (``prod``, ``tenants/acme``), or
    None for a project's only URL."""

    url: URL
    source: str
    embedded: bool = False
    name: str | None = None
    session: Session = Session()

    @property
    def backend(self) -> Backend:
        return backend(self.url.get_backend_name())

    @property
    def display(self) -> str:
        """The URL with its password hidden, in the userinfo and in the query: safe to print."""
        return redact.scrub(self.url.render_as_string(hide_password=True))

    @property
    def secret_url(self) -> str:
        """The URL with its password: only for SQLAlchemy and Alembic, never for output."""
        return self.url.render_as_string(hide_password=False)

    @property
    def file_path(self) -> Path | None:
        """The file of a file-based database (a SQLite file), else ``None``."""
        if not self.backend.file_based:
            return None
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)

    @property
    def missing(self) -> bool:
        """A database file not created yet: read commands then see an empty database."""
        path = self.file_path
        return path is not None and not path.exists()


def file_target(path: Path | str, source: str, embedded: bool = False) -> Target:
    """A target on the SQLite file ``path`` (the embedded default, copies, scratch files)."""
    return Target(URL.create(SQLITE.drivername, database=str(path)), source, embedded)
