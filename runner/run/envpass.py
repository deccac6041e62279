"""One pass through a project's env.py: online on a connection, or offline to SQL.

We call ``env.py`` the way ``alembic.command`` does (``EnvironmentContext`` plus
``ScriptDirectory.run_env``) but with the run's cached script directory, and
with our connection in ``Config.attributes`` (see :mod:`runner.contract`).
Stock env.py files ignore that attribute and connect through
``sqlalchemy.url``, which :meth:`ProjectEnv.load` also set.

Whatever escapes env.py is classified once, here: before the migration
callback is reached it is env.py's (or the connection's, or the database
user's rights') fault; after, it is a migration failure naming the step.
"""

from __future__ import annotations

import io
import logging
import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from runner import contract
from runner.db.connect import describe_db_error
from runner.errors import (
    ConfigError,
    DatabaseUnreachable,
    FailedStep,
    MigrationFailed,
    RevisionProblem,
    RunnerError,
)
from runner.project.environment import ProjectEnv, describe
from runner.project.revisions import describe_step, down_revisions

# fn(current_heads, migration_context) -> steps; Alembic's env.py callback protocol.
StepsFn = Callable[[Any, MigrationContext], Sequence[Any]]
# Called after each applied step, inside that step's transaction, with the
# current revisions after it.
StepHook = Callable[[MigrationContext, MigrationInfo, tuple[str, ...]], None]
# Called once env.py has configured its context, before any step is planned.
PrepareHook = Callable[["EnvRun", MigrationContext], None]

_PROGRESS = "alembic.runtime.migration"


class EnvConnectsItself(BaseException):
    """env.py configured its context with a connection of its own (a stock env.py), in a
    pass that asked for ours only (``run_env(..., ours_only=True)``).

    Raised from inside env.py's ``context.configure()``, before Alembic has read or
    created the version table on that connection: so a caller holding SQLite's write
    lock (``BEGIN IMMEDIATE``) can roll back and start over, instead of that
    connection's ``CREATE TABLE`` waiting on the lock the caller holds. A
    BaseException, like KeyboardInterrupt: it unwinds env.py as a signal, and
    neither an ``except Exception`` in env.py nor ours that turns env.py's errors
    into messages takes it for a failure.
    """


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

    @property
    def failed_step(self) -> Any | None:
        """The planned step that was running when an exception escaped, if any."""
        if len(self.applied) < len(self.planned):
            return self.planned[len(self.applied)]
        return None


@dataclass(frozen=True)
class Rendering:
    """An offline pass: the SQL env.py wrote and, when it failed, why.

    On failure ``sql`` holds what was rendered before the error: the failing
    revision is the last one in it, and its part is incomplete.
    """

    sql: str
    version_table: str | None
    error: RunnerError | None = None


def run_env(
    penv: ProjectEnv,
    fn: StepsFn,
    connection: Connection,
    *,
    on_step: StepHook | None = None,
    prepare: PrepareHook | None = None,
    per_migration: bool = False,
    ours_only: bool = False,
    **context_kw: Any,
) -> EnvRun:
    """Run env.py once, online, with ``fn`` as the migration callback.

    ``prepare`` runs first, inside env.py's transaction, once the current
    revisions are known; whatever it raises reaches the caller unchanged.
    ``per_migration`` asks env.py for one transaction per revision.
    ``ours_only`` raises :class:`EnvConnectsItself` as soon as env.py configures
    another connection than ``connection``.
    """
    outcome = EnvRun()
    attributes = penv.config.attributes
    attributes[contract.CONNECTION] = connection
    attributes[contract.TRANSACTION_PER_MIGRATION] = per_migration
    try:
        _run(penv, outcome, fn, connection, on_step, prepare, as_sql=False,
             ours_only=ours_only, **context_kw)  # fmt: skip
    finally:
        attributes[contract.CONNECTION] = None
        attributes.pop(contract.TRANSACTION_PER_MIGRATION, None)
    return outcome


def render(
    penv: ProjectEnv,
    starting_rev: Sequence[str] | str | None,
    destination_rev: str = "heads",
    downgrade: bool = False,
) -> Rendering:
    """Run env.py once, offline: the SQL of an upgrade (or ``downgrade``) from
    ``starting_rev`` to ``destination_rev``, as Alembic's ``--sql`` mode writes it.
    Never connects."""
    outcome = EnvRun()
    buffer = io.StringIO()
    penv.config.output_buffer = buffer
    error: RunnerError | None = None
    steps = penv.downgrade_steps if downgrade else penv.upgrade_steps
    try:
        _run(
            penv, outcome, lambda rev, _ctx: steps(destination_rev, rev), None, None,
            None, as_sql=True, starting_rev=starting_rev or None, destination_rev=destination_rev,
        )  # fmt: skip
    except RunnerError as exc:
        error = exc
    finally:
        penv.config.output_buffer = None
    return Rendering(name_base(buffer.getvalue()), outcome.version_table, error)


_EMPTY_SIDE = re.compile(r"^(-- Running (?:upgrade|downgrade)) (.*?) -> (.*?)\s*$", re.MULTILINE)


def name_base(sql: str) -> str:
    """Alembic's ``-- Running upgrade  -> r1`` comments with ``base`` where it leaves a blank.

    >>> name_base("-- Running upgrade  -> r1\\n-- Running downgrade r1 -> ")
    '-- Running upgrade base -> r1\\n-- Running downgrade r1 -> base'
    """
    return _EMPTY_SIDE.sub(lambda m: f"{m[1]} {m[2] or 'base'} -> {m[3] or 'base'}", sql)


def _run(
    penv: ProjectEnv,
    outcome: EnvRun,
    fn: StepsFn,
    connection: Connection | None,
    on_step: StepHook | None,
    prepare: PrepareHook | None,
    *,
    as_sql: bool,
    ours_only: bool = False,
    **context_kw: Any,
) -> None:
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
            current = outcome.current or tuple(rev if isinstance(rev, tuple) else ())
            raise RevisionProblem(penv.explain(exc, current), project=penv.name) from exc
        outcome.planned = steps
        return steps

    script = penv.script
    # Offline renders (plan, lint, apply's re-check) are not runs: keep them quiet.
    progress = logging.getLogger(_PROGRESS)
    was_disabled, progress.disabled = progress.disabled, as_sql
    try:
        with (
            penv.import_errors(include_env=True),
            _observing_environment(
                penv.config,
                script,
                outcome,
                on_step,
                connection if ours_only else None,
                fn=callback,
                as_sql=as_sql,
                **context_kw,
            ),  # fmt: skip
        ):
            script.run_env()
    except RunnerError:
        raise
    except SystemExit as exc:
        # sys.exit() in a revision or env.py: without this the runner would exit with
        # its code (0 for sys.exit()) in silence, having done nothing it could report.
        raise _classify(penv, SystemExitCalled(exc.code), outcome) from exc
    except Exception as exc:
        if exc in prepare_errors:
            raise
        raise _classify(penv, exc, outcome) from exc
    finally:
        # A stock env.py calls logging.config.fileConfig, which disables every
        # logger it does not name, ours included.
        logging.getLogger("runner").disabled = False
        progress.disabled = was_disabled


class SystemExitCalled(Exception):
    """``sys.exit()`` called inside env.py or a revision, as an error to classify."""

    def __init__(self, code: object) -> None:
        super().__init__(f"sys.exit({code!r}) was called; a revision must raise an error instead")


def _observing_environment(
    config: AlembicConfig,
    script: ScriptDirectory,
    outcome: EnvRun,
    on_step: StepHook | None,
    ours: Connection | None = None,
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
        after = tuple(sorted(heads))
        if on_step is not None:
            on_step(ctx, step, after)
        outcome.applied.append(step)
        outcome.heads_after = after

    def configure_and_observe(*args: Any, **options: Any) -> None:
        given = options.get("connection", args[0] if args else None)
        if ours is not None and given is not ours:
            raise EnvConnectsItself
        theirs = options.get("on_version_apply") or ()
        theirs = tuple(theirs) if isinstance(theirs, (list, tuple)) else (theirs,)
        options["on_version_apply"] = (*theirs, record)
        configure(*args, **options)

    environment.configure = configure_and_observe  # type: ignore[method-assign]
    return environment


def _classify(penv: ProjectEnv, exc: Exception, outcome: EnvRun) -> RunnerError:
    """The runner error for an exception that escaped env.py."""
    if outcome.reached_fn:
        failed = outcome.failed_step
        where = f" in {describe_step(failed)}" if failed is not None else ""
        hint = ""
        frames = traceback.extract_tb(exc.__traceback__)
        if isinstance(exc, AssertionError) and any(f.name == "autocommit_block" for f in frames):
            hint = (
                " (autocommit_block cannot run inside the run's transaction: use"
                " --transaction-per-revision)"
            )
        return MigrationFailed(
            f"failed{where}: {describe(exc)}{hint}", _failed_step(failed), project=penv.name
        )
    statement = exc.statement if isinstance(exc, DBAPIError) else None
    if isinstance(exc, OperationalError) and not (statement and _denied(exc)):
        # A stock env.py connects by itself; its connection failures land here.
        return DatabaseUnreachable(
            f"cannot connect to {penv.target.display}: {describe_db_error(exc)}", project=penv.name
        )
    if statement:
        # Alembic's own statements before the first step (creating the version
        # table): usually a database user without the rights for them.
        what = " ".join(statement.split()[:3])
        return ConfigError(
            f"the database refused {what} before any revision ran: {describe_db_error(exc)}"
            " (check the database user's rights)",
            project=penv.name,
        )
    return ConfigError(f"env.py failed before migrating: {describe(exc)}", project=penv.name)


def _denied(exc: DBAPIError) -> bool:
    """A statement refused for lack of rights. PyMySQL raises these ("CREATE command
    denied") as OperationalError, like a lost connection; the text tells them apart."""
    return "denied" in str(exc.orig).lower()


def _failed_step(step: Any) -> FailedStep | None:
    script = getattr(step, "revision", None)
    if not isinstance(script, Script):
        return None
    return script.revision, tuple(down_revisions(script)), (script.doc or "").strip()
