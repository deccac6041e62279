"""Find, validate and create database projects under ``<root>/projects/``.

A project is a folder ``projects/<name>/`` holding an ``alembic.ini``: an
ordinary Alembic environment. Nothing here touches a database or imports
revision files; that is :mod:`runner.project.environment`'s job.
"""

from __future__ import annotations

import difflib
import re
import string
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ConfigError, ProjectNotFound

PROJECTS_DIR = "projects"
INI_NAME = "alembic.ini"
TEMPLATE_DIR = Path(__file__).parent.parent / "templates" / "project"

# Lowercase letters, digits, "_" and "-": safe as a folder name, an environment
# variable stem and a table-name suffix, and it cannot climb out of projects/.
# At most 43 characters: the longest whose version table's primary-key name,
# alembic_version_<name>_pkc, still fits PostgreSQL's 63 (MySQL allows 64).
MAX_NAME = 43
_NAME_RE = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_NAME - 1}}}")


def not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """Why a file could not be read as UTF-8, and what to do."""
    return (
        f"{path} is not UTF-8 (byte 0x{exc.object[exc.start]:02x} at position {exc.start}):"
        " save it as UTF-8"
    )


def validate_name(name: str) -> str:
    """Return ``name`` if it is a legal project name, else raise :class:`ConfigError`.

    >>> validate_name("billing-eu")
    'billing-eu'
    >>> validate_name("../etc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runner.errors.ConfigError: invalid project name '../etc': ...
    """
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(
            f"invalid project name {name!r}: use lowercase letters, digits, '_' and '-'"
            f" (at most {MAX_NAME}, starting with a letter or digit)"
        )
    return name


def stem(name: str) -> str:
    """What two names must not share: ``a-b`` and ``a_b`` get the same tables and variables."""
    return name.replace("-", "_")


def env_stem(name: str) -> str:
    """Environment-variable stem of a project: ``billing-eu`` -> ``BILLING_EU``.

    >>> env_stem("billing-eu")
    'BILLING_EU'
    """
    return name.upper().replace("-", "_")


def default_version_table(name: str) -> str:
    """Version table the runner gives a new project: ``alembic_version_<name>``.

    >>> default_version_table("billing-eu")
    'alembic_version_billing_eu'
    """
    return "alembic_version_" + name.replace("-", "_")


# The runner's own tables, of any project (the version table and the change log): as
# shell patterns, and as a regular expression alternation (no anchors) for SQL text.
RUNNER_TABLES = ("alembic_version*", "alembic_changelog_*")
RUNNER_TABLES_RE = "|".join(re.escape(glob).replace(r"\*", r"\w*") for glob in RUNNER_TABLES)


@dataclass(frozen=True)
class Project:
    """One database project: a name and the folder that holds its ``alembic.ini``."""

    name: str
    path: Path

    @property
    def ini_path(self) -> Path:
        return self.path / INI_NAME

    @property
    def root(self) -> Path:
        """The repository holding the project: projects live at ``<root>/projects/<name>``."""
        return self.path.parent.parent

    @classmethod
    def at(cls, root: Path, name: str) -> Project:
        """The project ``name`` under ``root``; it must exist."""
        validate_name(name)
        project = cls(name, projects_dir(root) / name)
        if project.path.is_dir() and not project.ini_path.is_file():
            raise ProjectNotFound(
                f"{project.path} has no {INI_NAME}, so it is not a project"
                f" (create one with: runner new NAME, or add the {INI_NAME} of an Alembic"
                " environment)",
                project=name,
            )
        if not project.ini_path.is_file():
            raise ProjectNotFound(_not_found_message(root, name))
        check_no_twin(project, discover(root))
        return project


def projects_dir(root: Path) -> Path:
    """``<root>/projects``; a missing folder is a configuration error."""
    folder = root / PROJECTS_DIR
    if not folder.is_dir():
        raise ConfigError(
            f"no {PROJECTS_DIR}/ folder under {root}: run from the repository root"
            " or set RUNNER_ROOT (or --root)"
        )
    return folder


def discover(root: Path) -> list[Project]:
    """Every project under ``root/projects``, sorted by name.

    Folders without an ``alembic.ini`` or with an illegal name are not projects
    and are skipped (a README or a shared ``lib/`` may live there).
    """
    found = []
    for child in sorted(projects_dir(root).iterdir()):
        if child.is_dir() and _NAME_RE.fullmatch(child.name) and (child / INI_NAME).is_file():
            found.append(Project(child.name, child))
    return found


def check_no_twin(project: Project, others: list[Project]) -> None:
    """Refuse a project whose tables and variables another project of ``others`` uses."""
    twins = [
        p.name for p in others if p.name != project.name and stem(p.name) == stem(project.name)
    ]
    if twins:
        raise ConfigError(
            f"projects {project.name!r} and {twins[0]!r} would share their version and"
            f" change-log tables and their {env_stem(project.name)}_DATABASE_URL variable:"
            " rename one of them",
            project=project.name,
        )


def _not_found_message(root: Path, name: str) -> str:
    names = [p.name for p in discover(root)]
    message = f"unknown project {name!r}"
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    elif names:
        message += f"; known projects: {', '.join(names)}"
    else:
        message += f"; there are no projects yet under {root / PROJECTS_DIR}"
    return message + " (create one with: runner new NAME)"


def create(root: Path, name: str) -> Project:
    """Create ``projects/<name>/`` from the runner's template and return it.

    The new project has its own version table (``alembic_version_<name>``),
    written into its ``alembic.ini`` so that plain ``alembic -c`` agrees with
    the runner and a DBA can override it in one obvious place.
    """
    validate_name(name)
    target = projects_dir(root) / name
    if target.exists():
        raise ConfigError(f"project {name!r} already exists at {target}")
    twins = [p.name for p in discover(root) if stem(p.name) == stem(name)]
    if twins:
        raise ConfigError(
            f"project {name!r} would share its tables and {env_stem(name)}_DATABASE_URL with"
            f" project {twins[0]!r}: choose another name"
        )
    write_template(target, name)
    return Project(name, target)


def write_template(target: Path, name: str) -> None:
    """Write the runner's project files (not revisions) into ``target``.

    Existing files are kept, so a folder holding only ``versions/`` becomes a
    complete project (the test scenarios rely on this).
    """
    (target / "versions").mkdir(parents=True, exist_ok=True)
    values = {
        "name": name,
        "name_upper": env_stem(name),
        "version_table": default_version_table(name),
    }
    for template in sorted(TEMPLATE_DIR.iterdir()):
        if template.is_file() and not template.name.startswith((".", "__")):
            destination = target / template.name.removesuffix(".tmpl")
            if destination.exists():
                continue
            text = template.read_text(encoding="utf-8")
            if template.suffix == ".tmpl":
                # string.Template ($name) leaves Alembic's %(here)s and Mako's ${} alone.
                text = string.Template(text).substitute(values)
            destination.write_text(text, encoding="utf-8")
    (target / "versions" / ".gitkeep").touch()
