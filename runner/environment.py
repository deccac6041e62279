"""One project's Alembic environment, loaded once per run.

:class:`ProjectEnv` binds a :class:`~runner.projects.Project` to its
:class:`~runner.targets.Target` and holds the Alembic ``Config`` and
``ScriptDirectory``. The revision map is built once and reused by every step of
the run: ``alembic.command`` functions rebuild it on each call, which makes
looping over commands quadratic in the length of the history.

We call ``env.py`` the way ``alembic.command`` does (``EnvironmentContext`` plus
``ScriptDirectory.run_env``) but with our cached script directory, and with our
connection in ``Config.attributes["connection"]``. Stock env.py files ignore
that attribute and connect through ``sqlalchemy.url``, which we also set.
"""

from __future__ import annotations

import argparse
import configparser
import io
import logging
import os
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from runner import redact
from runner.checksums import revision_checksum
from runner.database import describe_db_error
from runner.errors import (
    ConfigError,
    DatabaseUnreachable,
    FailedStep,
    MigrationFailed,
    RevisionFileError,
    RevisionProblem,
    RunnerError,
)
from runner.projects import Project
from runner.results import RevisionInfo
from runner.targets import Target

# fn(current_heads, migration_context) -> steps; Alembic's env.py callback protocol.
StepsFn = Callable[[Any, MigrationContext], Sequence[Any]]
# Called after each applied step, inside that step's transaction.
StepHook = Callable[[MigrationContext, MigrationInfo], None]
# Called once env.py has configured its context, before any step is planned.
PrepareHook = Callable[["EnvRun", MigrationContext], None]


@dataclass
class EnvRun:
    """What one pass through env.py saw: the context env.py configured, and progress."""

    current: tuple[str, ...] = ()
    version_table: str | None = None
    version_table_schema: str | None = None
    # False when env.py opened its own connection (a stock env.py) instead of ours.
    used_our_connection: bool = True
    reached_fn: bool = False
    planned: list[Any] = field(default_factory=list)
    applied: list[MigrationInfo] = field(default_factory=list)
    # Current revisions after the last applied step (None: no step ran).
    heads_after: tuple[str, ...] | None = None
    sql: str = ""

    @property
    def failed_step(self) -> Any | None:
        """The planned step that was running when an exception escaped, if any."""
        if len(self.applied) < len(self.planned):
            return self.planned[len(self.applied)]
        return None


def _observing_environment(
    config: AlembicConfig,
    script: ScriptDirectory,
    outcome: EnvRun,
    on_step: StepHook | None,
    **kw: Any,
) -> EnvironmentContext:
    """An EnvironmentContext that also records each applied step in ``outcome``.

    env.py's ``context.configure(on_version_apply=...)`` replaces that option
    wholesale, so to observe every step whatever the env.py, ``configure`` itself
    is wrapped. It is wrapped on the instance, not in a subclass: Alembic's
    ``alembic.context`` proxy is registered per class and looks attributes up on
    the instance when it is installed.
    """
    environment = EnvironmentContext(config, script, **kw)
    configure = environment.configure

    def record(*, ctx: MigrationContext, step: MigrationInfo, heads: set[str], **_: Any) -> None:
        if on_step is not None:
            on_step(ctx, step)
        outcome.applied.append(step)
        outcome.heads_after = tuple(sorted(heads))

    def configure_and_observe(*args: Any, **options: Any) -> None:
        theirs = options.get("on_version_apply") or ()
        theirs = tuple(theirs) if isinstance(theirs, (list, tuple)) else (theirs,)
        options["on_version_apply"] = (*theirs, record)
        configure(*args, **options)

    environment.configure = configure_and_observe  # type: ignore[method-assign]
    return environment


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
    # revision id -> RevisionInfo, filled by runner.session.revision_info.
    infos: dict[str, RevisionInfo] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, project: Project, target: Target) -> ProjectEnv:
        """Read ``alembic.ini`` and point it at ``target`` (nothing imported yet)."""
        # quiet: Alembic's "Generating ... done" chatter; we report files ourselves.
        config = AlembicConfig(
            str(project.ini_path),
            cmd_opts=argparse.Namespace(quiet=True),
            attributes={"runner": True},
        )
        try:
            config.file_config  # noqa: B018 - parse now, so a broken ini fails here
        except configparser.Error as exc:
            raise ConfigError(
                f"{project.name}: {project.ini_path} is not a valid ini file: {_one_line(exc)}"
            ) from exc
        if not config.get_main_option("script_location"):
            raise ConfigError(
                f"{project.name}: {project.ini_path} has no script_location in its [alembic]"
                " section (set script_location = %(here)s)"
            )
        # The ini is %-interpolated: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", target.secret_url.replace("%", "%%"))
        return cls(project, target, config)

    @property
    def name(self) -> str:
        return self.project.name

    @property
    def script(self) -> ScriptDirectory:
        """The project's ScriptDirectory with its revision map built (once)."""
        if self._script is None:
            with self._revision_file_errors():
                try:
                    script = ScriptDirectory.from_config(self.config)
                except CommandError as exc:
                    raise ConfigError(
                        f"{self.name}: {_one_line(exc)} (check {self.project.ini_path})"
                    ) from exc
                # Alembic only *warns* about a dangling down_revision (then fails with a
                # bare KeyError) and about two files with one id (then keeps the last):
                # both are broken histories, so they stop the run with a clear message.
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        script.revision_map.heads  # noqa: B018 - import every revision file now
                    except (RevisionError, CommandError, KeyError) as exc:
                        detail = _history_warning(caught) or _one_line(exc)
                        raise RevisionProblem(f"{self.name}: {detail}") from exc
                problem = _history_warning(caught)
                if problem:
                    raise RevisionProblem(f"{self.name}: {problem}")
            self._script = script
        return self._script

    def forget_revisions(self) -> None:
        """Drop the cached revision map and file memos (after writing a revision file)."""
        self._script = None
        self._checksums.clear()
        self._listings.clear()
        self.infos.clear()

    def checksum(self, path: str) -> str:
        """:func:`~runner.checksums.revision_checksum` of a revision file, once per run."""
        found = self._checksums.get(path)
        if found is None:
            # One listing per folder tells which revisions have paired .sql files.
            folder = os.path.dirname(path)
            listing = self._listings.get(folder)
            if listing is None:
                listing = self._listings[folder] = frozenset(os.listdir(folder))
            found = self._checksums[path] = revision_checksum(path, listing)
        return found

    def heads(self) -> tuple[str, ...]:
        """Head revision ids of the project's history, sorted for stable output."""
        return tuple(sorted(self.script.get_heads()))

    def revision(self, rev_id: str) -> Script:
        """The Script for ``rev_id``; an unknown id is a :class:`RevisionProblem`."""
        try:
            script = self.script.get_revision(rev_id)
        except (RevisionError, CommandError) as exc:
            raise RevisionProblem(f"{self.name}: {_one_line(exc)}") from exc
        if script is None:
            raise RevisionProblem(f"{self.name}: unknown revision {rev_id!r}")
        return script

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

    def run(
        self,
        fn: StepsFn,
        connection: Connection | None,
        *,
        as_sql: bool = False,
        on_step: StepHook | None = None,
        prepare: PrepareHook | None = None,
        **context_kw: Any,
    ) -> EnvRun:
        """Run env.py once with ``fn`` as the migration callback.

        Errors are classified: before ``fn`` is reached, an exception is env.py's
        (or the connection's) fault; after, it is a migration failure, and the
        caller decides how to report where the database was left. ``prepare``
        runs first, inside env.py's transaction, once the current revisions are
        known; whatever it raises reaches the caller unchanged.
        """
        outcome = EnvRun()
        buffer = io.StringIO()
        self.config.output_buffer = buffer
        self.config.attributes["connection"] = connection
        prepare_errors: list[BaseException] = []

        def callback(rev: Any, context: MigrationContext) -> Sequence[Any]:
            outcome.version_table = context.version_table
            outcome.version_table_schema = context.version_table_schema
            outcome.used_our_connection = as_sql or context.connection is connection
            if not as_sql:
                outcome.current = tuple(sorted(context.get_current_heads()))
            if prepare is not None:
                try:
                    prepare(outcome, context)
                except BaseException as exc:
                    prepare_errors.append(exc)
                    raise
            outcome.reached_fn = True
            try:
                steps = list(fn(rev, context))
            except (RevisionError, CommandError) as exc:
                raise RevisionProblem(f"{self.name}: {_one_line(exc)}") from exc
            outcome.planned = steps
            return steps

        script = self.script
        # Offline renders (plan, lint, apply's re-check) are not runs: keep them quiet.
        progress = logging.getLogger("alembic.runtime.migration")
        was_disabled, progress.disabled = progress.disabled, as_sql
        try:
            with (
                self._revision_file_errors(include_env=True),
                _observing_environment(
                    self.config, script, outcome, on_step, fn=callback, as_sql=as_sql, **context_kw
                ),
            ):
                script.run_env()
        except RunnerError:
            raise
        except Exception as exc:
            if exc in prepare_errors:
                raise
            raise self._classify(exc, outcome) from exc
        finally:
            self.config.attributes["connection"] = None
            # A stock env.py calls logging.config.fileConfig, which disables every
            # logger it does not name, ours included.
            logging.getLogger("runner").disabled = False
            progress.disabled = was_disabled
        outcome.sql = buffer.getvalue()
        return outcome

    def _classify(self, exc: Exception, outcome: EnvRun) -> RunnerError:
        """The runner error for an exception that escaped env.py."""
        if outcome.reached_fn:
            failed = outcome.failed_step
            where = f" in {failed}" if failed is not None else ""
            hint = ""
            frames = traceback.extract_tb(exc.__traceback__)
            if isinstance(exc, AssertionError) and any(
                f.name == "autocommit_block" for f in frames
            ):
                hint = (
                    " (autocommit_block cannot run inside the run's transaction: use"
                    " --transaction-per-revision)"
                )
            return MigrationFailed(
                f"{self.name}: failed{where}: {_describe(exc)}{hint}", _failed_step(failed)
            )
        statement = exc.statement if isinstance(exc, DBAPIError) else None
        if isinstance(exc, OperationalError) and not (statement and _denied(exc)):
            # A stock env.py connects by itself; its connection failures land here.
            reason = describe_db_error(exc)
            return DatabaseUnreachable(
                f"{self.name}: cannot connect to {self.target.display}: {reason}"
            )
        if statement:
            # Alembic's own statements before the first step (creating the version
            # table): usually a database user without the rights for them.
            what = " ".join(statement.split()[:3])
            return ConfigError(
                f"{self.name}: the database refused {what} before any revision ran:"
                f" {describe_db_error(exc)} (check the database user's rights)"
            )
        return ConfigError(f"{self.name}: env.py failed before migrating: {_describe(exc)}")

    @contextmanager
    def _revision_file_errors(self, include_env: bool = False) -> Iterator[None]:
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
                f"{self.name}: {what} {_relative(path, self.project.path)} line {line}"
                f" does not import: {_describe(exc)}"
            ) from exc


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


def _denied(exc: DBAPIError) -> bool:
    """A statement refused for lack of rights. PyMySQL raises these ("CREATE command
    denied") as OperationalError, like a lost connection; the text tells them apart."""
    return "denied" in str(exc.orig).lower()


def _failed_step(step: Any) -> FailedStep | None:
    script = getattr(step, "revision", None)
    if not isinstance(script, Script):
        return None
    down = script.down_revision
    downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
    return script.revision, downs, (script.doc or "").strip()


def _project_file_location(exc: BaseException, project_dir: Path) -> tuple[Path, int] | None:
    """The innermost ``(file, line)`` inside ``project_dir`` where ``exc`` was raised.

    Only import-time failures count: an exception raised inside an ``upgrade()``
    call is a migration failure and is reported by :meth:`ProjectEnv.run`.
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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):
        return describe_db_error(exc)
    return redact.scrub(f"{type(exc).__name__}: {_one_line(exc)}")


def _one_line(exc: BaseException | str) -> str:
    text = str(exc).strip()
    return redact.scrub(" ".join(text.split())) if text else type(exc).__name__
