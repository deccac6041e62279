"""Where a project's database is: resolve its URL and say where it came from.

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
from pathlib import Path

from runner.db.target import Target, file_target, parse_url
from runner.errors import ConfigError
from runner.output import redact
from runner.project.repository import Project, env_stem, not_utf8

VAR_DIR = "var"

# What `alembic init` writes; a stock environment dropped in unchanged still has it.
_PLACEHOLDER_URL = "driver://user:pass@localhost/dbname"


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
    # Set but empty is an error, never "unset": an empty CI variable must not quietly
    # deploy to the embedded SQLite file.
    if url_option is not None:
        return _target(url_option, "--url", project)
    if variable in environ:
        return _target(environ[variable], variable, project)
    file_variable = f"{variable}_FILE"
    if file_variable in environ:
        if not environ[file_variable].strip():
            raise ConfigError(
                f"{file_variable} is set but empty: set it to the path of a file holding the"
                " URL, or unset it",
                project=project.name,
            )
        path = Path(environ[file_variable])
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {file_variable}={path}: {exc.strerror}", project=project.name
            ) from exc
        if not text:
            raise ConfigError(f"{file_variable}={path} is empty", project=project.name)
        return _target(text, f"{file_variable} ({path})", project)
    ini_url = _ini_url(project)
    if ini_url:
        return _target(ini_url, f"{project.ini_path.name} sqlalchemy.url", project)
    database = (root / VAR_DIR / f"{project.name}.sqlite").resolve()
    return file_target(database, "embedded default", embedded=True)


def log_key(project: Project, environ: Mapping[str, str]) -> tuple[bytes | None, str]:
    """The change-log key (HMAC) for ``project``, if one is configured, and the variables
    that give it: ``<NAME>_LOG_KEY``, ``<NAME>_LOG_KEY_FILE``, ``RUNNER_LOG_KEY``,
    ``RUNNER_LOG_KEY_FILE``, first found wins. The key is registered for scrubbing."""
    stem = env_stem(project.name)
    names = [f"{stem}_LOG_KEY", "RUNNER_LOG_KEY"]
    for name in names:
        for variable in (name, f"{name}_FILE"):
            raw = environ.get(variable)
            if raw is None:
                continue
            if variable.endswith("_FILE"):
                try:
                    raw = Path(raw).read_text(encoding="utf-8")
                except OSError as exc:
                    raise ConfigError(
                        f"cannot read {variable}={raw}: {exc.strerror}", project=project.name
                    ) from exc
            value = raw.strip()
            if not value:
                raise ConfigError(f"{variable} is set but empty", project=project.name)
            redact.register(value)
            return value.encode(), variable
    return None, f"{names[0]} (or {names[0]}_FILE, {names[1]}, {names[1]}_FILE)"


def url_for_plain_alembic(ini_path: str | Path) -> str:
    """The URL a runner-made env.py uses when run by plain ``alembic -c``.

    Same rules as the runner (minus ``--url``), so ``alembic -c
    projects/x/alembic.ini upgrade head`` and ``runner upgrade x`` reach the same
    database. The project folder is assumed to sit in ``<root>/projects/``.
    """
    folder = Path(ini_path).resolve().parent
    project = Project(folder.name, folder)
    target = resolve(project, project.root, os.environ)
    if target.file_path is not None:
        target.file_path.parent.mkdir(parents=True, exist_ok=True)
    return target.secret_url


def _ini_url(project: Project) -> str | None:
    """``sqlalchemy.url`` from the project's ini, raw (no interpolation), if real."""
    parser = configparser.RawConfigParser()
    try:
        parser.read(project.ini_path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(
            f"{project.ini_path} is not a valid ini file: {_first_line(str(exc))}",
            project=project.name,
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(not_utf8(project.ini_path, exc), project=project.name) from exc
    if not parser.has_option("alembic", "sqlalchemy.url"):
        return None
    # The ini is interpolated by Alembic, so a literal % is written %%.
    value = parser.get("alembic", "sqlalchemy.url").strip().replace("%%", "%")
    if not value or value == _PLACEHOLDER_URL:
        return None
    return value


def _target(raw: str, source: str, project: Project) -> Target:
    return Target(parse_url(raw, source, project=project.name), source)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
