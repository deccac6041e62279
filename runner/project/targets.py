"""Where a project deploys: its targets file, ``projects/<name>/targets.toml``.

A project without the file has one target, ``default``, whose URL follows the
rules of :mod:`runner.project.resolve` (``--url``, ``<NAME>_DATABASE_URL``, its
``_FILE``, ``alembic.ini``, the embedded SQLite file). The file adds, all optional:

``dialect``
    What the project's databases are (``postgresql``, ``mysql``, ``sqlite``).
    ``lint``, ``test`` and ``plan`` use it; a URL of another dialect is refused,
    and a project that declares a server dialect never falls back to SQLite.
``server_version``
    The server version lint assumes (a rule may depend on it).
``default``
    The environment (or group) used when a command names none.
``[defaults]``
    Settings every target inherits (see :class:`Settings`).
``[env.NAME]``
    A named environment (``dev``, ``staging``, ``prod``): where its URL comes
    from (one of ``url_env``, ``url_file``, ``sqlite``, ``url``; without one,
    the variable ``<PROJECT>_<ENV>_DATABASE_URL`` or its ``_FILE``), and settings.
``[objects]``
    Which database objects the project owns, for ``adopt``, ``drift``, ``diff``
    and the schema fingerprint: ``include`` and ``exclude``, lists of
    shell-style patterns matched against object names (``include`` empty: all),
    and ``schemas``, the schemas to look in (default: the connection's own).
``[group.NAME]``
    A fleet of identical databases (tenants, shards): members listed by
    ``members_env`` or ``members_file`` (one ``NAME URL`` or ``URL`` per line),
    ``sqlite_glob`` (files; each named by its stem) or ``query`` run on the
    environment ``catalog`` (rows of ``name, url``, or of ``name`` with
    ``url_template``). A member is the target ``GROUP/MEMBER``. ``ci_parallel``
    splits its deploy over that many CI jobs (``runner ci gitlab``).

Everything is checked when the file is read: an unknown key is an error naming
it, so a typo (``protect = true``) never silently leaves prod unprotected.
"""

from __future__ import annotations

import difflib
import fnmatch
import glob
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runner.db.backends import NAMES, backend
from runner.db.target import Session, SizeLimits, Target, file_target, parse_url
from runner.errors import ConfigError, Refused
from runner.project import resolve
from runner.project.repository import Project, env_stem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TARGETS_FILE = "targets.toml"
DEFAULT_TARGET = "default"  # the one target of a project that declares none
CONFIRM_VARIABLE = "RUNNER_CONFIRM"

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # environments and groups
_MEMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # tenants, shards
_URL_KEYS = ("url_env", "url_file", "sqlite", "url")
_PATH_KEY = _URL_KEYS[2]  # a file path, not a URL: the one source that is not a secret
_MEMBER_KEYS = ("members_env", "members_file", "sqlite_glob", "query")


@dataclass(frozen=True)
class Settings:
    """Per-target knobs; a target's own values win over ``[defaults]``.

    ``lock_timeout``: seconds to wait for another run's lock (``--lock-timeout``).
    ``statement_timeout`` and ``db_lock_timeout``: the database session's statement
    timeout and lock wait (PostgreSQL ``statement_timeout`` / ``lock_timeout``; MySQL
    ``max_execution_time`` or MariaDB ``max_statement_time`` / ``lock_wait_timeout`` and
    ``innodb_lock_wait_timeout``). The lock wait is the deploy guard: 5 s unless set,
    ``0`` turns it off. ``lock_retries`` and ``lock_retry_backoff``: how often, and after
    what first pause, a revision that gave up waiting for a lock is tried again.
    ``schema``: PostgreSQL ``search_path``. ``protected``: writes need confirming.
    ``large_table_rows``/``large_table_bytes``/``small_table_rows``: the sizes at which a
    plan raises a blocking operation's finding to an error, or lowers it to info.
    """

    protected: bool = False
    lock_timeout: float | None = None
    statement_timeout: float | None = None
    db_lock_timeout: float | None = None
    schema: str | None = None
    lock_retries: int | None = None
    lock_retry_backoff: float | None = None
    large_table_rows: int | None = None
    large_table_bytes: int | None = None
    small_table_rows: int | None = None

    def session(self) -> Session:
        return Session(self.statement_timeout, self.db_lock_timeout, self.schema,
                       self.lock_retries, self.lock_retry_backoff)  # fmt: skip

    def sizes(self) -> SizeLimits:
        """The thresholds a plan judges table sizes by (the defaults where unset)."""
        given = {"large_rows": self.large_table_rows, "large_bytes": self.large_table_bytes,
                 "small_rows": self.small_table_rows}  # fmt: skip
        return SizeLimits(**{key: value for key, value in given.items() if value is not None})


_SETTING_KEYS = {"protected", "lock_timeout", "statement_timeout", "db_lock_timeout", "schema",
                 "lock_retries", "lock_retry_backoff", "large_table_rows", "large_table_bytes",
                 "small_table_rows"}  # fmt: skip
_COUNTS = {"lock_retries": 100, "large_table_rows": 10**15, "large_table_bytes": 10**18,
           "small_table_rows": 10**15}  # fmt: skip


@dataclass(frozen=True)
class EnvSpec:
    """``[env.NAME]``: one database, its URL source and settings."""

    name: str
    source: str  # one of _URL_KEYS
    value: str
    settings: Settings


@dataclass(frozen=True)
class GroupSpec:
    """``[group.NAME]``: a fleet, how to list it and the settings of every member."""

    name: str
    source: str  # one of _MEMBER_KEYS
    value: str
    settings: Settings
    catalog: str | None = None
    url_template: str | None = None
    password_env: str | None = None
    ci_parallel: int = 1  # CI jobs sharing the fleet's deploy (GitLab parallel:, --shard auto)


@dataclass(frozen=True)
class Declaration:
    """A project's targets file, read and checked (or the empty one of a project
    without the file)."""

    project: Project
    path: Path | None = None
    dialect: str | None = None
    server_version: str | None = None
    default: str | None = None
    defaults: Settings = field(default_factory=Settings)
    envs: dict[str, EnvSpec] = field(default_factory=dict)
    groups: dict[str, GroupSpec] = field(default_factory=dict)
    # [objects]: the objects the project owns (adopt, drift, diff, fingerprints).
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()

    @property
    def declares_targets(self) -> bool:
        return bool(self.envs or self.groups)

    @property
    def where(self) -> str:
        return str(self.path) if self.path else f"{self.project.path}/{TARGETS_FILE}"


def load(project: Project) -> Declaration:
    """The project's targets file, checked; an empty declaration when there is none."""
    path = project.path / TARGETS_FILE
    if not path.is_file():
        return Declaration(project)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", project=project.name) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8", project=project.name) from exc
    return _Reader(project, path).declaration(data)


class _Reader:
    """Checks a parsed targets file, naming the key at fault in every error."""

    def __init__(self, project: Project, path: Path) -> None:
        self.project, self.path = project, path

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {message}", project=self.project.name)

    def keys(self, where: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail(where, f"unknown key {key!r}{hint}")

    def text(self, where: str, table: Mapping[str, Any], key: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{key} must be a non-empty string")
        return value.strip()

    def seconds(self, where: str, table: Mapping[str, Any], key: str) -> float | None:
        value = table.get(key)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (0 <= value <= 7 * 24 * 3600)
        ):
            raise self.fail(where, f"{key} must be a number of seconds (0 to 604800)")
        return float(value)

    def count(self, where: str, table: Mapping[str, Any], key: str) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _COUNTS[key]:
            raise self.fail(where, f"{key} must be a whole number (0 to {_COUNTS[key]})")
        return value

    def settings(self, where: str, table: Mapping[str, Any], base: Settings) -> Settings:
        protected = table.get("protected", base.protected)
        if not isinstance(protected, bool):
            raise self.fail(where, "protected must be true or false")
        schema = self.text(where, table, "schema")
        if schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]{0,62}", schema):
            raise self.fail(where, f"schema {schema!r} is not a plain identifier")
        return Settings(
            protected=protected,
            lock_timeout=_first(self.seconds(where, table, "lock_timeout"), base.lock_timeout),
            statement_timeout=_first(
                self.seconds(where, table, "statement_timeout"), base.statement_timeout
            ),
            db_lock_timeout=_first(
                self.seconds(where, table, "db_lock_timeout"), base.db_lock_timeout
            ),
            schema=schema or base.schema,
            lock_retries=_first_int(self.count(where, table, "lock_retries"), base.lock_retries),
            lock_retry_backoff=_first(
                self.seconds(where, table, "lock_retry_backoff"), base.lock_retry_backoff
            ),
            large_table_rows=_first_int(
                self.count(where, table, "large_table_rows"), base.large_table_rows
            ),
            large_table_bytes=_first_int(
                self.count(where, table, "large_table_bytes"), base.large_table_bytes
            ),
            small_table_rows=_first_int(
                self.count(where, table, "small_table_rows"), base.small_table_rows
            ),
        )

    def declaration(self, data: dict[str, Any]) -> Declaration:
        self.keys("top level", data, {"dialect", "server_version", "default", "defaults", "env",
                                      "group", "objects"})  # fmt: skip
        dialect = self.text("dialect", data, "dialect")
        if dialect is not None:
            if backend(dialect).name not in NAMES:
                raise self.fail("dialect", f"{dialect!r} is not one of {', '.join(NAMES)}")
            dialect = backend(dialect).name
        version = data.get("server_version")
        if version is not None and not isinstance(version, (str, int, float)):
            raise self.fail("server_version", 'must be a version such as "15" or "8.0"')
        defaults_table = self.table("defaults", data.get("defaults", {}))
        self.keys("[defaults]", defaults_table, _SETTING_KEYS)
        defaults = self.settings("[defaults]", defaults_table, Settings())
        envs = {
            name: self.env(name, table, defaults)
            for name, table in self.table("env", data.get("env", {})).items()
        }
        groups = {
            name: self.group(name, table, defaults, envs)
            for name, table in self.table("group", data.get("group", {})).items()
        }
        clash = sorted(set(envs) & set(groups))
        if clash:
            raise self.fail(f"{clash[0]}", "an environment and a group have this name")
        default = self.text("default", data, "default")
        if default is not None and default not in envs and default not in groups:
            raise self.fail("default", f"{default!r} is no [env.*] or [group.*] in this file")
        objects = self.table("objects", data.get("objects", {}))
        self.keys("[objects]", objects, {"include", "exclude", "schemas"})
        return Declaration(self.project, self.path, dialect,
                           None if version is None else str(version), default, defaults, envs,
                           groups, *(self.patterns("[objects]", objects, key)
                                     for key in ("include", "exclude", "schemas")))  # fmt: skip

    def patterns(self, where: str, table: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                                  for v in value):  # fmt: skip
            raise self.fail(where, f"{key} must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def table(self, where: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a table")
        return value

    def named(self, kind: str, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise self.fail(f"[{kind}.{name}]", "names use lowercase letters, digits, '_', '-'")
        if name == DEFAULT_TARGET:
            raise self.fail(f"[{kind}.{name}]", f"{DEFAULT_TARGET!r} names the project's own URL")
        return name

    def env(self, name: str, table: Any, defaults: Settings) -> EnvSpec:
        where = f"[env.{self.named('env', name)}]"
        table = self.table(where, table)
        self.keys(where, table, {*_URL_KEYS, *_SETTING_KEYS})
        given = [key for key in _URL_KEYS if key in table]
        if len(given) > 1:
            raise self.fail(where, f"give one of {', '.join(given)}, not several")
        source = given[0] if given else "url_env"
        value = self.text(where, table, source) if given else _env_variable(self.project, name)
        assert value is not None
        if source == "url" and parse_url(value, f"{self.path} {where} url").password:
            raise self.fail(where, "url holds a password: keep it out of the repository, in a"
                            " variable (url_env) or a secret file (url_file)")  # fmt: skip
        return EnvSpec(name, source, value, self.settings(where, table, defaults))

    def group(
        self, name: str, table: Any, defaults: Settings, envs: Mapping[str, EnvSpec]
    ) -> GroupSpec:
        where = f"[group.{self.named('group', name)}]"
        table = self.table(where, table)
        self.keys(where, table, {*_MEMBER_KEYS, "catalog", "url_template", "password_env",
                                 "ci_parallel", *_SETTING_KEYS})  # fmt: skip
        given = [key for key in _MEMBER_KEYS if key in table]
        if len(given) != 1:
            raise self.fail(where, f"give exactly one of {', '.join(_MEMBER_KEYS)}")
        source = given[0]
        catalog = self.text(where, table, "catalog")
        if source == "query" and catalog not in envs:
            raise self.fail(where, "a query needs catalog = the name of an [env.*] to run it on")
        template = self.text(where, table, "url_template")
        if template is not None and "{name}" not in template:
            raise self.fail(where, "url_template must contain {name}")
        value = self.text(where, table, source)
        assert value is not None
        parallel = table.get("ci_parallel", 1)
        if isinstance(parallel, bool) or not isinstance(parallel, int) or not 1 <= parallel <= 200:
            raise self.fail(where, "ci_parallel must be a whole number from 1 to 200 (GitLab's"
                            " parallel: limit)")  # fmt: skip
        return GroupSpec(name, source, value, self.settings(where, table, defaults), catalog,
                         template, self.text(where, table, "password_env"),
                         parallel)  # fmt: skip


def _first(value: float | None, fallback: float | None) -> float | None:
    return fallback if value is None else value


def _first_int(value: int | None, fallback: int | None) -> int | None:
    return fallback if value is None else value


def _env_variable(project: Project, env: str) -> str:
    """``billing-eu`` env ``prod``: ``BILLING_EU_PROD_DATABASE_URL``."""
    return f"{env_stem(project.name)}_{env_stem(env)}_DATABASE_URL"


# --- one target --------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A target a command may run on: its name, settings and how to reach it.

    ``resolve`` reads the URL (a variable, a file) only when called, so a fleet
    member whose variable is missing fails alone, in its own row of the summary.
    """

    project: str
    name: str
    group: str | None
    settings: Settings
    resolve: Callable[[], Target]

    @property
    def label(self) -> str:
        """``billing@prod``; a project's only target is just ``billing``."""
        return self.project if self.name == DEFAULT_TARGET else f"{self.project}@{self.name}"


def _checked(declaration: Declaration, target: Target, name: str) -> Target:
    """``target`` named and with its session settings, if of the declared dialect."""
    dialect = declaration.dialect
    found = target.backend.name
    if dialect is not None and found != dialect:
        raise ConfigError(
            f"target {name}: the URL from {target.source} is {backend(found).label}, but"
            f" {declaration.where} declares dialect = {dialect!r}",
            project=declaration.project.name,
        )
    return target


def _default(declaration: Declaration, root: Path, environ: Mapping[str, str],
             url_option: str | None) -> Candidate:  # fmt: skip
    project = declaration.project

    def reach() -> Target:
        target = resolve.resolve(project, root, environ, url_option)
        dialect = declaration.dialect
        if target.embedded and dialect is not None and not backend(dialect).file_based:
            variable = resolve.url_variable(project)
            raise ConfigError(
                f"no database URL: set {variable} (or {variable}_FILE, or pass --url);"
                f" {declaration.where} declares dialect = {dialect!r}, so it never falls back"
                " to a SQLite file",
                project=project.name,
            )
        settings = declaration.defaults
        return replace(_checked(declaration, target, DEFAULT_TARGET), session=settings.session())

    return Candidate(project.name, DEFAULT_TARGET, None, declaration.defaults, reach)


def _env(declaration: Declaration, spec: EnvSpec, root: Path,
         environ: Mapping[str, str]) -> Candidate:  # fmt: skip
    project = declaration.project

    def reach() -> Target:
        where = f"[env.{spec.name}]"
        if spec.source == _PATH_KEY:
            path = (
                (root / spec.value).resolve()
                if not Path(spec.value).is_absolute()
                else Path(spec.value)
            )
            target = file_target(path, f"{TARGETS_FILE} {where} sqlite")
        elif spec.source == "url":
            source = f"{TARGETS_FILE} {where} url"
            target = Target(parse_url(spec.value, source, project=project.name), source)
        elif spec.source == "url_file":
            target = _from_file(Path(spec.value), f"{TARGETS_FILE} {where} url_file", project)
        else:
            target = _from_variable(spec.value, environ, project, where)
        checked = _checked(declaration, target, spec.name)
        return replace(checked, name=spec.name, session=spec.settings.session())

    return Candidate(project.name, spec.name, None, spec.settings, reach)


def _from_variable(variable: str, environ: Mapping[str, str], project: Project,
                   where: str) -> Target:  # fmt: skip
    if variable in environ:
        raw = environ[variable]
        return Target(parse_url(raw, variable, project=project.name), variable)
    file_variable = f"{variable}_FILE"
    if file_variable in environ and environ[file_variable].strip():
        path = Path(environ[file_variable])
        return _from_file(path, f"{file_variable} ({path})", project)
    raise ConfigError(
        f"{variable} is not set (the URL of {where} in {TARGETS_FILE}): set it, or"
        f" {file_variable} to a file holding the URL",
        project=project.name,
    )


def _from_file(path: Path, source: str, project: Project) -> Target:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}", project=project.name) from exc
    return Target(parse_url(text, source, project=project.name), source)


# --- groups ------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One database of a group: a stable name and its URL (or its SQLite file)."""

    name: str
    raw: str  # a URL, or a file path for sqlite_glob
    source: str


def members(declaration: Declaration, group: GroupSpec, root: Path,
            environ: Mapping[str, str]) -> list[Member]:  # fmt: skip
    """The members of ``group``, in a stable order (as listed; files sorted)."""
    project = declaration.project
    where = f"[group.{group.name}]"
    if group.source == "sqlite_glob":
        pattern = group.value if os.path.isabs(group.value) else str(root / group.value)
        found = [
            Member(Path(p).stem, p, f"{TARGETS_FILE} {where} sqlite_glob")
            for p in sorted(glob.glob(pattern))
        ]
    elif group.source == "query":
        found = _queried(declaration, group, root, environ)
    else:
        if group.source == "members_env":
            if group.value not in environ:
                raise ConfigError(
                    f"{group.value} is not set (the members of {where} in {TARGETS_FILE}):"
                    " set it to one 'NAME URL' (or URL) per line",
                    project=project.name,
                )
            text, source = environ[group.value], group.value
        else:
            path = group.value if os.path.isabs(group.value) else root / group.value
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read {path} (the members of {where}):"
                                  f" {exc.strerror}", project=project.name) from exc  # fmt: skip
            source = str(path)
        found = _parsed_members(text, source, group, project, environ)
    _check_names(found, group, project)
    return found


def _parsed_members(text: str, source: str, group: GroupSpec, project: Project,
                    environ: Mapping[str, str]) -> list[Member]:  # fmt: skip
    found = []
    for number, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) > 2:
            raise ConfigError(
                f"{source} line {number} (members of [group.{group.name}]): expected 'NAME URL'"
                " or a URL",
                project=project.name,
            )
        if group.url_template is not None and len(parts) == 1:
            url = _templated(group, parts[0], environ)
            found.append(Member(parts[0], url, f"{source} line {number}"))
            continue
        raw, where = parts[-1], f"{source} line {number}"
        name = (
            parts[0] if len(parts) == 2 else _name_of(parse_url(raw, where, project=project.name))
        )
        found.append(Member(name, raw, where))
    return found


def _templated(group: GroupSpec, name: str, environ: Mapping[str, str]) -> str:
    """``url_template`` for member ``name``; ``{password}`` from ``password_env``."""
    from urllib.parse import quote

    assert group.url_template is not None
    password = environ.get(group.password_env or "", "")
    return group.url_template.replace("{name}", name).replace("{password}", quote(password))


def _name_of(url: Any) -> str:
    """A member's name when the list gives none: its database, else its host."""
    database = (url.database or "").rstrip("/")
    return Path(database).stem if database else str(url.host or "")


def _check_names(found: Sequence[Member], group: GroupSpec, project: Project) -> None:
    seen: dict[str, str] = {}
    for member in found:
        if not _MEMBER.fullmatch(member.name):
            raise ConfigError(
                f"member {member.name!r} of [group.{group.name}] ({member.source}): names use"
                " letters, digits, '.', '_' and '-' (at most 63)",
                project=project.name,
            )
        if member.name in seen:
            raise ConfigError(
                f"two members of [group.{group.name}] are named {member.name!r}"
                f" ({seen[member.name]} and {member.source}): give each a name ('NAME URL')",
                project=project.name,
            )
        seen[member.name] = member.source


def _queried(declaration: Declaration, group: GroupSpec, root: Path,
             environ: Mapping[str, str]) -> list[Member]:  # fmt: skip
    """Members from the tenant catalog: ``query`` run read-only on env ``catalog``."""
    import sqlalchemy as sa

    from runner.db.connect import connect, create_target_engine, describe_db_error

    assert group.catalog is not None
    project = declaration.project
    catalog = _env(declaration, declaration.envs[group.catalog], root, environ).resolve()
    engine = create_target_engine(project.name, catalog)
    try:
        with connect(project.name, catalog, engine) as connection, connection.begin() as tx:
            try:
                rows = connection.execute(sa.text(group.value)).fetchall()
            except sa.exc.DBAPIError as exc:
                raise ConfigError(
                    f"the query of [group.{group.name}] failed on {catalog.display}:"
                    f" {describe_db_error(exc)}",
                    project=project.name,
                ) from exc
            finally:
                tx.rollback()  # a catalog is read, never written
    finally:
        engine.dispose()
    found = []
    source = f"{TARGETS_FILE} [group.{group.name}] query"
    for number, row in enumerate(rows, 1):
        if len(row) == 1 and group.url_template is not None:
            url = _templated(group, str(row[0]), environ)
            found.append(Member(str(row[0]), url, f"{source} row {number}"))
        elif len(row) == 2:
            found.append(Member(str(row[0]), str(row[1]), f"{source} row {number}"))
        else:
            raise ConfigError(
                f"the query of [group.{group.name}] must return (name, url) rows, or (name)"
                " rows with url_template set",
                project=project.name,
            )
    return found


def _member(declaration: Declaration, group: GroupSpec, member: Member) -> Candidate:
    project = declaration.project
    name = f"{group.name}/{member.name}"

    def reach() -> Target:
        if group.source == "sqlite_glob":
            target = file_target(Path(member.raw), member.source)
        else:
            target = Target(parse_url(member.raw, member.source, project=project.name),
                            member.source)  # fmt: skip
        checked = _checked(declaration, target, name)
        return replace(checked, name=name, session=group.settings.session())

    return Candidate(project.name, name, group.name, group.settings, reach)


# --- choosing targets ----------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """What a command selected: the names to give targets, or everything declared."""

    env: str | None = None
    group: str | None = None
    patterns: tuple[str, ...] = ()
    everything: bool = False  # --all

    @property
    def named(self) -> bool:
        return bool(self.env or self.group or self.patterns)


@dataclass(frozen=True)
class Selection:
    """The candidates of one project, and the targets left out and why."""

    candidates: list[Candidate]
    skipped: list[tuple[str, str]]  # (label, why)


def select(
    declaration: Declaration,
    choice: Choice,
    root: Path,
    environ: Mapping[str, str],
    *,
    writing: bool,
    url_option: str | None = None,
    confirmed: frozenset[str] = frozenset(),
) -> Selection:
    """The targets of one project a command runs on, protected ones checked."""
    project = declaration.project.name
    if url_option is not None and choice.named:
        raise ConfigError("--url is a target of its own: do not combine it with --env,"
                          " --group or --target", project=project)  # fmt: skip
    if choice.named:
        if not declaration.declares_targets:
            raise ConfigError(
                f"{project} declares no environments or groups (in {declaration.where});"
                " run it without --env/--group/--target",
                project=project,
            )
        found = _named(declaration, choice, root, environ)
    elif choice.everything or (declaration.declares_targets and not declaration.default):
        if not declaration.declares_targets:
            found = [_default(declaration, root, environ, url_option)]
        elif writing and not choice.everything:
            names = ", ".join([*declaration.envs, *declaration.groups])
            raise ConfigError(
                f"{project} deploys to {names} ({declaration.where}): name one with --env"
                ' (or --group, --target), or set default = "..." in that file',
                project=project,
            )
        else:
            found = _everything(declaration, root, environ)
    elif declaration.default:
        found = _named(declaration, _choice_of(declaration, declaration.default), root, environ)
    else:
        found = [_default(declaration, root, environ, url_option)]
    return _protected(found, writing, choice, confirmed)


def _choice_of(declaration: Declaration, name: str) -> Choice:
    return Choice(env=name) if name in declaration.envs else Choice(group=name)


def _everything(declaration: Declaration, root: Path,
                environ: Mapping[str, str]) -> list[Candidate]:  # fmt: skip
    found = [_env(declaration, spec, root, environ) for spec in declaration.envs.values()]
    for group in declaration.groups.values():
        found += [_member(declaration, group, m) for m in members(declaration, group, root,
                                                                   environ)]  # fmt: skip
    return found


def _named(declaration: Declaration, choice: Choice, root: Path,
           environ: Mapping[str, str]) -> list[Candidate]:  # fmt: skip
    project = declaration.project.name
    if choice.env is not None:
        if choice.env not in declaration.envs:
            raise _unknown("environment", choice.env, list(declaration.envs), declaration)
        return [_env(declaration, declaration.envs[choice.env], root, environ)]
    if choice.group is not None:
        if choice.group not in declaration.groups:
            raise _unknown("group", choice.group, list(declaration.groups), declaration)
        group = declaration.groups[choice.group]
        return [_member(declaration, group, m) for m in members(declaration, group, root,
                                                                 environ)]  # fmt: skip
    every = _everything(declaration, root, environ)
    chosen = [c for c in every if any(fnmatch.fnmatchcase(c.name, p) for p in choice.patterns)]
    if not chosen:
        raise ConfigError(
            f"no target of {project} matches {', '.join(choice.patterns)} (its targets:"
            f" {_listing([c.name for c in every])})",
            project=project,
        )
    return chosen


def _unknown(kind: str, name: str, known: list[str], declaration: Declaration) -> ConfigError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {_listing(known) or 'none'})"
    return ConfigError(f"no {kind} {name!r} in {declaration.where}{hint}",
                       project=declaration.project.name)  # fmt: skip


def _listing(names: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _protected(found: list[Candidate], writing: bool, choice: Choice,
               confirmed: frozenset[str]) -> Selection:  # fmt: skip
    if not writing:
        return Selection(found, [])
    kept, skipped = [], []
    for candidate in found:
        if not candidate.settings.protected or _is_confirmed(candidate, confirmed):
            kept.append(candidate)
        elif choice.everything:  # --all leaves protected targets out, and says so
            skipped.append((candidate.label, f"protected: confirm with --confirm {candidate.name}"))
        else:
            what = candidate.group or candidate.name
            raise Refused(
                f"target {candidate.name} is protected: confirm this write with --confirm"
                f" {what} (or {CONFIRM_VARIABLE}={what} in an approved CI job)",
                project=candidate.project,
            )
    return Selection(kept, skipped)


def _is_confirmed(candidate: Candidate, confirmed: frozenset[str]) -> bool:
    return bool({"*", candidate.name, candidate.group} & confirmed)


def confirmations(flags: Sequence[str], environ: Mapping[str, str]) -> frozenset[str]:
    """``--confirm`` values and ``RUNNER_CONFIRM`` (comma-separated), as one set."""
    names = {flag.strip() for flag in flags}
    names |= {part.strip() for part in environ.get(CONFIRM_VARIABLE, "").split(",")}
    return frozenset(name for name in names if name)


# --- shards --------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """This job's share of the targets: shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def keeps(self, candidate: Candidate) -> bool:
        """A stable assignment: a target's shard depends on its own name only, so adding
        a member to a fleet never moves the others to another job."""
        key = f"{candidate.project}/{candidate.name}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % self.count == self.index


def parse_shard(text: str, environ: Mapping[str, str]) -> Shard:
    """``i/n`` (1-based, as GitLab numbers its parallel jobs) or ``auto``: GitLab's
    ``CI_NODE_INDEX``/``CI_NODE_TOTAL``, else a Kubernetes Indexed Job's
    ``JOB_COMPLETION_INDEX`` (0-based) with ``RUNNER_SHARDS`` giving the total."""
    if text == "auto":
        if environ.get("CI_NODE_TOTAL"):
            return _shard(environ.get("CI_NODE_INDEX", ""), environ["CI_NODE_TOTAL"], 1,
                          "CI_NODE_INDEX/CI_NODE_TOTAL")  # fmt: skip
        if environ.get("JOB_COMPLETION_INDEX") is not None:
            if not environ.get("RUNNER_SHARDS"):
                raise ConfigError("--shard auto in a Kubernetes Indexed Job needs RUNNER_SHARDS"
                                  " (the Job's completions) set")  # fmt: skip
            return _shard(environ["JOB_COMPLETION_INDEX"], environ["RUNNER_SHARDS"], 0,
                          "JOB_COMPLETION_INDEX/RUNNER_SHARDS")  # fmt: skip
        raise ConfigError("--shard auto: neither CI_NODE_INDEX/CI_NODE_TOTAL (GitLab parallel:)"
                          " nor JOB_COMPLETION_INDEX (Kubernetes Indexed Job) is set;"
                          " give --shard I/N")  # fmt: skip
    index, sep, count = text.partition("/")
    if not sep:
        raise ConfigError(f"--shard {text!r}: expected I/N (such as 2/4) or auto")
    return _shard(index, count, 1, "--shard")


def _shard(index: str, count: str, base: int, source: str) -> Shard:
    try:
        i, n = int(index) - base, int(count)
    except ValueError:
        raise ConfigError(f"{source}: {index!r}/{count!r} are not whole numbers") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"{source}: shard {index} of {count} does not exist")
    return Shard(i, n)


# --- a new project's file ------------------------------------------------------------


def template(project: str, dialect: str) -> str:
    """The targets file ``runner new NAME --dialect D`` writes: the dialect, and the
    environments commented out, ready to be filled in."""
    stem = env_stem(project)
    kind = backend(dialect)
    if kind.file_based:
        dev = f'sqlite = "var/{project}-dev.sqlite"'
        prod = f'sqlite = "var/{project}-prod.sqlite"'
    else:
        dev = f'url_env = "{stem}_DEV_DATABASE_URL"     # or url_file = "/run/secrets/..."'
        prod = f'url_env = "{stem}_PROD_DATABASE_URL"'
    return f"""# Where projects/{project} deploys (see the README, "Targets").
dialect = "{kind.name}"

# The environment a command uses when none is named (--env). Without it, the
# project's URL comes from {stem}_DATABASE_URL (or _FILE), as for a project
# without this file; a {kind.label} project never falls back to a SQLite file.
# default = "dev"

# [defaults]
# lock_timeout = 60          # seconds to wait for another run's lock
# statement_timeout = 300    # the database session's statement timeout, seconds
# db_lock_timeout = 5        # how long a statement may wait for a table lock (0: no limit)
# lock_retries = 3           # tries again after a lock timeout, pausing 2 s, 4 s, 8 s

# [env.dev]
# {dev}

# [env.prod]
# {prod}
# protected = true           # writes need --confirm prod (or RUNNER_CONFIRM=prod)

# [group.tenants]            # a fleet: one member per line, "NAME URL", in the variable
# members_env = "{stem}_TENANT_URLS"
"""
