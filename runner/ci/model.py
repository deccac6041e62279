"""What a pipeline needs to know of each project, read from its files only (no
database, no secret): its dialect and where it deploys, in promotion order."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import RunnerError
from runner.project import repository
from runner.project import targets as declared


@dataclass(frozen=True)
class Stop:
    """One deploy of a project: an environment, a group (fleet) or its only target.

    ``kind`` is ``env``, ``group`` or ``default``; ``option`` the runner options that
    pick it (``--env prod``); ``credentials`` the variables or files its URL comes from,
    for the person creating them; ``parallel`` the CI jobs sharing a group.
    """

    name: str
    kind: str
    protected: bool
    option: list[str]
    credentials: list[str]
    parallel: int = 1
    # What a CI system binds for it: (variable, "file" or "text"), e.g. Jenkins'
    # withCredentials file(...) / string(...), each credential named after its variable.
    bind: list[tuple[str, str]] = field(default_factory=list)

    def environment(self, project: str) -> str:
        """The CI environment (and lock) of this deploy: ``db/billing/prod``."""
        return f"db/{project}" if self.kind == "default" else f"db/{project}/{self.name}"


@dataclass(frozen=True)
class CiProject:
    """A project as the pipelines see it."""

    project: str
    dialect: str  # declared; sqlite when undeclared (what lint and test then use)
    declared_dialect: bool
    deploys: list[Stop] = field(default_factory=list)
    # Why the project's files could not be read (a broken targets.toml): its pipeline is
    # then one failing job, and every other project's runs as usual.
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for stop, row in zip(self.deploys, found["deploys"], strict=True):
            row["environment"] = stop.environment(self.project)
        return found


def describe_or_problem(root: Path, name: str) -> CiProject:
    """:func:`describe`, or a project carrying the error that stopped it."""
    try:
        return describe(root, name)
    except RunnerError as exc:
        return CiProject(name, "sqlite", False, [], str(exc))


def describe(root: Path, name: str) -> CiProject:
    """``name``'s dialect and deploys, in the order its targets file lists them:
    environments first (dev before staging before prod), then groups."""
    project = repository.Project.at(root, name)
    declaration = declared.load(project)
    stops: list[Stop] = []
    for env in declaration.envs.values():
        stops.append(Stop(env.name, "env", env.settings.protected, ["--env", env.name],
                          _env_credentials(env), bind=_bind(_env_credentials(env))))  # fmt: skip
    for group in declaration.groups.values():
        found = _group_credentials(declaration, group)
        stops.append(Stop(group.name, "group", group.settings.protected,
                          ["--group", group.name], found, group.ci_parallel,
                          _bind(found)))  # fmt: skip
    if not stops:
        variable = f"{repository.env_stem(name)}_DATABASE_URL"
        found = [f"{variable}_FILE", variable]
        stops.append(Stop("default", "default", False, [], found, bind=_bind(found)))
    dialect = declaration.dialect or "sqlite"
    return CiProject(name, dialect, declaration.dialect is not None, stops)


def _bind(credentials: list[str]) -> list[tuple[str, str]]:
    """One binding per secret: a URL variable's ``_FILE`` form as a file, other variables
    as text; files named in targets.toml are mounted, not bound."""
    found: list[tuple[str, str]] = []
    for item in credentials:
        if item.startswith("file "):
            continue
        if item.endswith("_DATABASE_URL") or f"{item}_FILE" in credentials:
            continue  # its _FILE form is bound instead
        found.append((item, "file" if item.endswith("_FILE") else "text"))
    return found


def _env_credentials(env: declared.EnvSpec) -> list[str]:
    if env.source == "url_env":
        return [f"{env.value}_FILE", env.value]
    if env.source == "url_file":
        return [f"file {env.value}"]
    return []  # a SQLite path, or a URL without a password: nothing secret


def _group_credentials(declaration: declared.Declaration, group: declared.GroupSpec) -> list[str]:
    found = []
    if group.source == "members_env":
        found.append(group.value)
    elif group.source == "members_file":
        found.append(f"file {group.value}")
    elif group.source == "query" and group.catalog in declaration.envs:
        found += _env_credentials(declaration.envs[group.catalog])
    if group.password_env:
        found.append(group.password_env)
    return found
