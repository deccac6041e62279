"""Where a project's database is: resolve, normalise and describe its URL.

Resolution order (first match wins), for project ``billing-eu``:

1. the ``--url`` option;
2. ``BILLING_EU_DATABASE_URL``;
3. ``BILLING_EU_DATABASE_URL_FILE``: a file holding the URL (Docker/Kubernetes secrets);
4. ``sqlalchemy.url`` in the project's ``alembic.ini``;
5. the embedded default ``sqlite:///<root>/var/billing-eu.sqlite``.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from runner import redact
from runner.errors import ConfigError
from runner.projects import Project, env_stem

VAR_DIR = "var"

# What `alembic init` writes; a stock environment dropped in unchanged still has it.
_PLACEHOLDER_URL = "driver://user:pass@localhost/dbname"

# A bare dialect name means "the default driver", which for PostgreSQL and MySQL
# is one we do not ship (psycopg2, mysqlclient). Use the ones we do ship.
_DEFAULT_DRIVERS = {
    "postgresql": "psycopg",
    "postgres": "psycopg",
    "mysql": "pymysql",
    "mariadb": "pymysql",
}


@dataclass(frozen=True)
class Target:
    """A resolved database URL for one project, and where it came from."""

    url: URL
    source: str
    embedded: bool = False

    @property
    def display(self) -> str:
        """The URL with its password hidden: safe to print."""
        return self.url.render_as_string(hide_password=True)

    @property
    def secret_url(self) -> str:
        """The URL with its password: only for SQLAlchemy and Alembic, never for output."""
        return self.url.render_as_string(hide_password=False)

    @property
    def sqlite_path(self) -> Path | None:
        """The file of a file-based SQLite URL, else ``None``."""
        if self.url.get_backend_name() != "sqlite":
            return None
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)


def url_variable(project: Project) -> str:
    """Name of the environment variable holding a project's URL."""
    return f"{env_stem(project.name)}_DATABASE_URL"


def resolve(
    project: Project,
    root: Path,
    environ: Mapping[str, str],
    url_option: str | None = None,
) -> Target:
    """Resolve ``project``'s database URL; see the module docstring for the order."""
    variable = url_variable(project)
    if url_option:
        return _target(url_option, "--url", project)
    if environ.get(variable):
        return _target(environ[variable], variable, project)
    file_variable = f"{variable}_FILE"
    if environ.get(file_variable):
        path = Path(environ[file_variable])
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{project.name}: cannot read {file_variable}={path}: {exc.strerror}"
            ) from exc
        if not text:
            raise ConfigError(f"{project.name}: {file_variable}={path} is empty")
        return _target(text, f"{file_variable} ({path})", project)
    ini_url = _ini_url(project)
    if ini_url:
        return _target(ini_url, f"{project.ini_path.name} sqlalchemy.url", project)
    database = (root / VAR_DIR / f"{project.name}.sqlite").resolve()
    return Target(URL.create("sqlite", database=str(database)), "embedded default", embedded=True)


def url_for_plain_alembic(ini_path: str | Path) -> str:
    """The URL a runner-made env.py uses when run by plain ``alembic -c``.

    Same rules as the runner (minus ``--url``), so ``alembic -c
    projects/x/alembic.ini upgrade head`` and ``runner upgrade x`` reach the same
    database. The project folder is assumed to sit in ``<root>/projects/``.
    """
    folder = Path(ini_path).resolve().parent
    target = resolve(Project(folder.name, folder), folder.parent.parent, os.environ)
    if target.sqlite_path is not None:
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return target.secret_url


def _ini_url(project: Project) -> str | None:
    """``sqlalchemy.url`` from the project's ini, raw (no interpolation), if real."""
    parser = configparser.RawConfigParser()
    try:
        parser.read(project.ini_path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(
            f"{project.name}: {project.ini_path} is not a valid ini file: {_first_line(str(exc))}"
        ) from exc
    if not parser.has_option("alembic", "sqlalchemy.url"):
        return None
    # The ini is interpolated by Alembic, so a literal % is written %%.
    value = parser.get("alembic", "sqlalchemy.url").strip().replace("%%", "%")
    if not value or value == _PLACEHOLDER_URL:
        return None
    return value


def _target(raw: str, source: str, project: Project) -> Target:
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        # The message would echo the raw URL, password included: do not show it.
        raise ConfigError(
            f"{project.name}: the database URL from {source} is not a valid SQLAlchemy URL"
            " (expected dialect+driver://user:password@host:port/database)"
        ) from exc
    redact.register(url.password if isinstance(url.password, str) else None)
    driver = _DEFAULT_DRIVERS.get(url.drivername)
    if driver:
        backend = "postgresql" if url.drivername == "postgres" else url.drivername
        url = url.set(drivername=f"{backend}+{driver}")
    return Target(url, source)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
