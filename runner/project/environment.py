"""One project's Alembic environment, loaded once per run.

:class:`ProjectEnv` binds a :class:`~runner.project.repository.Project` to its
:class:`~runner.db.target.Target` and holds the Alembic ``Config`` and
``ScriptDirectory``. The revision map is built once and reused by every step of
the run: ``alembic.command`` functions rebuild it on each call, which makes
looping over commands quadratic in the length of the history. Running env.py
is :mod:`runner.run.envpass`'s job.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import os
import re
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError, coerce_resource_to_filename

from runner import contract
from runner.db.connect import describe_db_error
from runner.db.target import Target
from runner.errors import ConfigError, RevisionFileError, RevisionProblem, RunnerError
from runner.output import redact
from runner.output.results import RevisionInfo
from runner.project.checksums import revision_checksum
from runner.project.repository import Project, not_utf8
from runner.project.revisions import down_revisions


@dataclass
class ProjectEnv:
    """A project ready to run: its target, Alembic config and (lazily) its revisions."""

    project: Project
    target: Target
    config: AlembicConfig
    _script: ScriptDirectory | None = field(default=None, repr=False)
    # Per-run memos, dropped with the revision map: a run reads each file once.
    _checksums: dict[str, str] = field(default_factory=dict, repr=False)
    _listings: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _infos: dict[str, RevisionInfo] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, project: Project, target: Target) -> ProjectEnv:
        """Read ``alembic.ini`` and point it at ``target`` (nothing imported yet)."""
        # quiet: Alembic's "Generating ... done" chatter; we report files ourselves.
        config = AlembicConfig(
            str(project.ini_path),
            cmd_opts=argparse.Namespace(quiet=True),
            attributes={contract.RUNNER: True},
        )
        try:
            config.file_config  # noqa: B018 - parse now, so a broken ini fails here
            script_location = config.get_main_option("script_location")
        except configparser.Error as exc:
            raise ConfigError(
                f"{project.ini_path} is not a valid ini file: {one_line(exc)}", project=project.name
            ) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(not_utf8(project.ini_path, exc), project=project.name) from exc
        except CommandError as exc:  # Alembic's way of saying: no [alembic] section
            raise ConfigError(
                f"{project.ini_path} has no [alembic] section (it needs at least"
                " script_location = %(here)s)",
                project=project.name,
            ) from exc
        if not script_location:
            raise ConfigError(
                f"{project.ini_path} has no script_location in its [alembic] section"
                " (set script_location = %(here)s)",
                project=project.name,
            )
        _inside_the_repository(project, config)
        # The ini is %-interpolated: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", target.secret_url.replace("%", "%%"))
        return cls(project, target, config)

    def pointed_at(self, target: Target) -> ProjectEnv:
        """This project aimed at another ``target``, sharing the revision map already built
        (a throw-away copy, a scratch database, another dialect to render for)."""
        if target == self.target:
            return self
        other = ProjectEnv.load(self.project, target)
        other._script = self.script
        other._checksums, other._listings, other._infos = (
            self._checksums, self._listings, self._infos,
        )  # fmt: skip
        return other

    @property
    def name(self) -> str:
        return self.project.name

    @property
    def script(self) -> ScriptDirectory:
        """The project's ScriptDirectory with its revision map built (once)."""
        if self._script is None:
            with self.import_errors():
                try:
                    script = ScriptDirectory.from_config(self.config)
                except CommandError as exc:
                    raise ConfigError(
                        f"{one_line(exc)} (check {self.project.ini_path})", project=self.name
                    ) from exc
                # Alembic only *warns* about a dangling down_revision (then fails with a
                # bare KeyError) and about two files with one id (then keeps the last):
                # both are broken histories, so they stop the run with a clear message.
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        script.revision_map.heads  # noqa: B018 - import every revision file now
                    except (RevisionError, CommandError, KeyError) as exc:
                        detail = _history_warning(caught) or one_line(exc)
                        raise RevisionProblem(detail, project=self.name) from exc
                problem = _history_warning(caught)
                if problem:
                    raise RevisionProblem(problem, project=self.name)
            self._script = script
        return self._script

    def forget_revisions(self) -> None:
        """Drop the cached revision map and file memos (after writing a revision file)."""
        self._script = None
        self._checksums.clear()
        self._listings.clear()
        self._infos.clear()

    def checksum(self, path: str) -> str:
        """:func:`~runner.project.checksums.revision_checksum` of a revision file, once per run."""
        found = self._checksums.get(path)
        if found is None:
            # One listing per folder tells which revisions have paired .sql files.
            folder = os.path.dirname(path)
            listing = self._listings.get(folder)
            if listing is None:
                listing = self._listings[folder] = frozenset(os.listdir(folder))
            found = self._checksums[path] = revision_checksum(path, listing)
        return found

    def info(self, script: Script) -> RevisionInfo:
        """Describe one revision for output (built once per revision per run)."""
        found = self._infos.get(script.revision)
        if found is None:
            found = self._infos[script.revision] = self._describe(script)
        return found

    def _describe(self, script: Script) -> RevisionInfo:
        # String arithmetic, no filesystem calls: the usual case is a plain prefix.
        root = os.path.join(self.project.path, "")
        if script.path.startswith(root):
            shown = script.path[len(root) :]
        else:
            shown = os.path.relpath(script.path, self.project.path)
            if shown.startswith(".."):
                shown = str(script.path)
        return RevisionInfo(
            revision=script.revision,
            down_revisions=down_revisions(script),
            message=(script.doc or "").strip(),
            path=shown,
            branch_labels=sorted(script.branch_labels),
            is_head=script.is_head,
            is_merge=script.is_merge_point,
        )

    def heads(self) -> tuple[str, ...]:
        """Head revision ids of the project's history, sorted for stable output."""
        return tuple(sorted(self.script.get_heads()))

    def revision(self, rev_id: str) -> Script:
        """The Script for ``rev_id``; an unknown id is a :class:`RevisionProblem`."""
        try:
            script = self.script.get_revision(rev_id)
        except (RevisionError, CommandError) as exc:
            raise RevisionProblem(self.explain(exc), project=self.name) from exc
        if script is None:
            raise RevisionProblem(f"unknown revision {rev_id!r}", project=self.name)
        return script

    def explain(self, exc: BaseException, current: Sequence[str] = ()) -> str:
        """Alembic's message about a revision argument, with what to do about it."""
        text = one_line(exc)
        if match := _CANNOT_LOCATE.search(text):
            return (
                f"unknown revision {match[1]!r} (see: runner history {self.name}; an id, a"
                " unique prefix of one, head, heads, base or -N is understood)"
            )
        if match := _RELATIVE.search(text):
            sign, count = match[1], match[2]
            way = "above" if sign == "+" else "below"
            return (
                f"there are fewer than {count} revisions {way} where the database is"
                f" ({', '.join(current) or 'base'}); see: runner status {self.name}"
            )
        if "Ambiguous walk" in text or "ambiguous" in text.lower():
            scripts = [self.script.get_revision(rev) for rev in current]
            parents = sorted({p for s in scripts if s is not None for p in down_revisions(s)})
            named = " or ".join(parents) if parents else "a revision id"
            example = parents[0] if parents else "REV"
            return (
                f"a relative step is ambiguous at a merge of branches: name the revision to go"
                f" to instead ({named}), as in: runner downgrade {self.name} {example}"
            )
        return text

    # The three step builders below are what alembic.command uses internally;
    # keeping them here means one place to adapt if Alembic renames them.
    def upgrade_steps(self, destination: str, current: Any) -> Sequence[Any]:
        """Steps from ``current`` up to ``destination`` (a revision, ``head`` or ``heads``)."""
        return self.script._upgrade_revs(destination, current)

    def downgrade_steps(self, destination: str, current: Any) -> Sequence[Any]:
        """Steps from ``current`` down to ``destination`` (a revision, ``-N`` or ``base``)."""
        return self.script._downgrade_revs(destination, current)

    def stamp_steps(self, destination: tuple[str, ...], current: Any) -> Sequence[Any]:
        """Version-table-only steps that make ``destination`` the current revision(s)."""
        return self.script._stamp_revs(destination, current)

    @contextmanager
    def import_errors(self, include_env: bool = False) -> Iterator[None]:
        """Turn an import-time failure of a revision file (or env.py) into a message naming it."""
        try:
            yield
        except RunnerError:
            raise
        except Exception as exc:
            location = _project_file_location(exc, self.project.path)
            if location is None or (location[0].name == "env.py" and not include_env):
                raise
            path, line = location
            what = "env.py" if path.name == "env.py" else "revision file"
            raise RevisionFileError(
                f"{what} {_relative(path, self.project.path)} line {line} does not import:"
                f" {describe(exc)}",
                project=self.name,
            ) from exc


ALLOW_OUTSIDE_KEY = "runner_allow_outside_repository"


def _inside_the_repository(project: Project, config: AlembicConfig) -> None:
    """Refuse to run code from outside the repository: it is not what was reviewed, and
    the commit recorded in the change log does not cover it.

    The project folder (a symlink may point elsewhere), ``script_location`` and
    ``version_locations`` must resolve inside the repository, unless the project's
    ``[alembic]`` section says ``runner_allow_outside_repository = true``; then the
    runner says so on every run, and the change log records such revisions'
    absolute paths.
    """
    root = project.root.resolve()
    places = {"the project folder": project.path}
    script_location = config.get_main_option("script_location") or ""
    places["script_location"] = Path(coerce_resource_to_filename(script_location))
    for location in config.get_version_locations_list() or []:
        places[f"version_locations ({location})"] = Path(coerce_resource_to_filename(location))
    outside = {what: path.resolve() for what, path in places.items()}
    outside = {what: path for what, path in outside.items() if not path.is_relative_to(root)}
    if not outside:
        return
    what, path = next(iter(outside.items()))
    allowed = (config.get_main_option(ALLOW_OUTSIDE_KEY) or "").strip().lower()
    if allowed in {"true", "1", "yes", "on"}:
        logging.getLogger("runner").warning(
            "%s: %s is %s, outside the repository %s (allowed by %s)",
            project.name, what, path, root, ALLOW_OUTSIDE_KEY,
        )  # fmt: skip
        return
    raise ConfigError(
        f"{what} is {path}, outside the repository {root}: code from there is not what was"
        f" reviewed; move it into the repository, or set {ALLOW_OUTSIDE_KEY} = true in the"
        " [alembic] section of alembic.ini",
        project=project.name,
    )


_CANNOT_LOCATE = re.compile(r"Can't locate revision identified by '([^']*)'")
_RELATIVE = re.compile(r"Relative revision ([+-])(\d+) didn't produce")


def _history_warning(caught: list[warnings.WarningMessage]) -> str | None:
    """Alembic's warnings about a broken revision graph, as one message."""
    messages = [
        " ".join(str(w.message).split())
        for w in caught
        if "is not present" in str(w.message) or "is present more than once" in str(w.message)
    ]
    if not messages:
        return None
    return "broken history: " + "; ".join(messages) + " (see: runner lint)"


def _project_file_location(exc: BaseException, project_dir: Path) -> tuple[Path, int] | None:
    """The innermost ``(file, line)`` inside ``project_dir`` where ``exc`` was raised.

    Only import-time failures count: an exception raised inside an ``upgrade()``
    call is a migration failure and is reported by :mod:`runner.run.envpass`.
    """
    project_dir = project_dir.resolve()
    if isinstance(exc, SyntaxError) and exc.filename:
        path = Path(exc.filename).resolve()
        if path.is_relative_to(project_dir):
            return path, exc.lineno or 0
    found: tuple[Path, int] | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(project_dir):
            if frame.name not in {"<module>"}:
                return None  # raised while running a function, not while importing
            found = (path, frame.lineno or 0)
    return found


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def describe(exc: BaseException) -> str:
    """One line naming an exception and what it said, scrubbed of secrets."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        return describe_db_error(exc)
    return redact.scrub(f"{type(exc).__name__}: {one_line(exc)}")


def one_line(exc: BaseException | str) -> str:
    """An exception's text on one line, scrubbed; its class name when it says nothing."""
    text = str(exc).strip()
    return redact.scrub(" ".join(text.split())) if text else type(exc).__name__
