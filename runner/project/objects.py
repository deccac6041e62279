"""Which database objects a project owns: the ``[objects]`` of its targets file.

``adopt``, ``drift``, ``diff`` and the schema fingerprint see only these; the
runner's own tables (version and change log, of any project) never.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from runner.project import targets as declared
from runner.project.repository import RUNNER_TABLES, Project  # never adopted, never drift


@dataclass(frozen=True)
class Scope:
    """Which objects belong to the project: ``include`` patterns (none: all), minus
    ``exclude``; shell-style, matched against an object's name and, outside the
    default schema, ``schema.name``. ``schemas``: where to look (none: the default)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()
    ignore: frozenset[str] = frozenset()  # further names to leave out (a custom version table)

    def keeps(self, name: str, schema: str | None = None) -> bool:
        names = [name] if schema is None else [name, f"{schema}.{name}"]
        if name in self.ignore or any(fnmatch.fnmatchcase(name, p) for p in RUNNER_TABLES):
            return False
        if self.include and not any(fnmatch.fnmatchcase(n, p) for n in names for p in
                                    self.include):  # fmt: skip
            return False
        return not any(fnmatch.fnmatchcase(n, p) for n in names for p in self.exclude)

    def extended(self, include: tuple[str, ...], exclude: tuple[str, ...]) -> Scope:
        """These patterns plus more (a command line's)."""
        return Scope(self.include + include, self.exclude + exclude, self.schemas, self.ignore)


def scope_of(project: Project, version_table: str | None = None) -> Scope:
    """The objects ``project`` owns, from its targets file."""
    declaration = declared.load(project)
    ignore = frozenset({version_table}) if version_table else frozenset()
    return Scope(declaration.include, declaration.exclude, declaration.schemas, ignore)
