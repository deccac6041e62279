"""The write path: every upgrade, downgrade, stamp and apply goes through here.

One visible sequence (:func:`run_write`): connect, take the project's lock
(:mod:`runner.db.locking`), decide the write mode once (:func:`write_mode`),
run it, release the lock (the connection closing releases it too).

The modes, from the backend's facts and the run's options:

``ONE_PASS``
    DDL is transactional (PostgreSQL, SQLite): one pass through env.py in one
    transaction. Once env.py has configured its context, read where the
    database is, create the change-log table if needed, run the safety checks;
    then migrate, and write one change-log row per applied step and the schema
    fingerprint before the commit. Nothing can slip between the checks and the
    migration, and the write's rows commit with it.
``SHARED_TRANSACTION``
    Where env.py opens its own connection (a stock env.py: told by its text, or
    found at its ``context.configure()`` in a one pass, before Alembic used that
    connection): the checks in a first pass and transaction of ours, committed,
    then env.py's pass on its connection.
``PER_REVISION``
    ``--transaction-per-revision``, or a pending revision needs
    ``autocommit_block``: the checks are committed, then Alembic commits after
    each revision.
``MARKED``
    DDL commits itself (MySQL/MariaDB): the checks are committed, then one
    revision at a time, each after a committed "in progress" row.

On failure the transaction is rolled back, a failure row is written on its
own, and the error says where the database now is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from runner.db import DEFAULT_LOCK_TIMEOUT, guard, locking
from runner.db.backends import Backend, backend
from runner.db.connect import begin_plainly, classify, read_only
from runner.db.tables import touched
from runner.db.target import Session
from runner.errors import DatabaseUnreachable, MigrationFailed, Refused, RunnerError
from runner.output.results import (
    Direction,
    MigrateResult,
    RevisionInfo,
    VerifyResult,
    describe_revs,
)
from runner.project.environment import ProjectEnv
from runner.project.revisions import calls_autocommit_block, describe_move
from runner.run import changelog, fingerprint, newer, provenance, retry, verify
from runner.run.changelog import ChangeLog, LogEntry
from runner.run.envpass import EnvConnectsItself, EnvRun, PrepareHook, StepsFn, run_env
from runner.run.session import UNCHANGED, open_connection, read_env

log = logging.getLogger("runner")


class WriteMode(enum.Enum):
    """How a writing command uses transactions; see the module docstring."""

    ONE_PASS = "one pass, one transaction"
    SHARED_TRANSACTION = "checks and migration in one transaction"
    PER_REVISION = "a transaction per revision"
    MARKED = "one revision at a time, each after an in-progress row"


def write_mode(
    kind: Backend, per_revision: bool, runs_ddl: bool, needs_autocommit: bool
) -> WriteMode:
    """The one decision of how a write runs, from named facts (as Alembic's
    ``MigrationContext.begin_transaction`` decides from ``transactional_ddl``)."""
    if not kind.transactional_ddl:
        # Each DDL statement commits: only a revision-by-revision record stays true.
        # A stamp runs no DDL; it only needs its version rows committed per step.
        return WriteMode.MARKED if runs_ddl else WriteMode.PER_REVISION
    if per_revision or needs_autocommit:
        return WriteMode.PER_REVISION
    # On SQLite the write lock is the transaction (BEGIN IMMEDIATE, taken before
    # env.py runs). A stock env.py's own connection would wait on it to create its
    # version table; the one pass stops at that env.py's configure(), before
    # Alembic uses its connection, and starts over in two passes (Write.one_pass).
    return WriteMode.ONE_PASS


@dataclass(frozen=True)
class WriteOptions:
    """Knobs of a writing command."""

    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    per_revision: bool = False  # one transaction per revision instead of one for the run
    plan_digest: str = ""  # set by `apply`: which reviewed plan this run executes
    lock_timeout_given: bool = False  # on the command line: it wins over a target's own
    # The deploy guard from the command line (--db-lock-timeout, --lock-retries): when
    # given, they win over the target's settings.
    db_lock_timeout: float | None = None
    lock_retries: int | None = None

    def for_target(self, lock_timeout: float | None) -> WriteOptions:
        """These options on a target whose targets file sets ``lock_timeout``."""
        if lock_timeout is None or self.lock_timeout_given:
            return self
        return dataclasses.replace(self, lock_timeout=lock_timeout)

    def session(self, session: Session) -> Session:
        """A target's session settings with the command line's guard over them."""
        if self.db_lock_timeout is not None:
            session = dataclasses.replace(session, db_lock_timeout=self.db_lock_timeout)
        if self.lock_retries is not None:
            session = dataclasses.replace(session, lock_retries=self.lock_retries)
        return session


DEFAULT_OPTIONS = WriteOptions()


class _Recorder:
    """on_version_apply hook: change-log rows for each applied step.

    Steps run on our connection in one transaction are only noted as they run
    (which step, when); their rows are built and written in one statement
    before that transaction commits, in :meth:`flush`. Same transaction, fewer
    round trips, and the per-row work (checksums, descriptions) done in one
    tight loop instead of between DDL statements, where it measured several
    times slower. Otherwise (a stock env.py's own connection, or a transaction
    per revision) each step's rows go in with it.
    """

    def __init__(
        self,
        penv: ProjectEnv,
        log_: ChangeLog | None,
        options: WriteOptions,
        connection: Connection,
        buffered: bool,
    ) -> None:
        self.penv, self.log, self.options = penv, log_, options
        self.connection, self.buffered = connection, buffered
        self.pending: list[tuple[MigrationInfo, dt.datetime, dt.datetime, int]] = []
        # When the running step started: each step starts when the one before it
        # is recorded (the first when the recorder is made, just before env.py runs).
        self.last = changelog.utcnow()
        self.last_clock = time.perf_counter()
        self.heads: tuple[str, ...] | None = None  # after the last recorded step
        self.done: list[str] = []  # revisions of the steps recorded so far
        self.watch: retry.WriteWatch | None = None  # told when the next revision starts

    def __call__(self, ctx: MigrationContext, step: MigrationInfo, heads: tuple[str, ...]) -> None:
        started, self.last = self.last, changelog.utcnow()
        clock, self.last_clock = self.last_clock, time.perf_counter()
        self.heads = heads
        if step.up_revision_id and not step.is_stamp:
            self.done.append(step.up_revision_id)
        noted = (step, started, self.last, int((self.last_clock - clock) * 1000))
        self.say(step, noted[3])
        if self.buffered and ctx.connection is self.connection:
            self.pending.append(noted)
        else:
            assert ctx.connection is not None
            self.change_log.append(ctx.connection, *self._entries(*noted))
        if self.watch is not None:
            self.watch.reset()  # what follows belongs to the next revision

    def say(self, step: MigrationInfo, duration_ms: int) -> None:
        """One line per step as it finishes, with its time (Flyway's habit, not Alembic's
        "Running ..." before it starts); on stderr, like all progress."""
        if step.is_stamp:
            what = (
                f"stamp {describe_revs(step.source_revision_ids)} ->"
                f" {describe_revs(step.destination_revision_ids)}"
            )
        else:
            rev = step.up_revision_id
            script = self.penv.script.get_revision(rev) if rev else None
            message = self.penv.info(script).message if script is not None else ""
            what = describe_move(
                step.is_upgrade, step.source_revision_ids, step.destination_revision_ids, message
            )
        log.info("%s: %s (%s)", self.penv.name, what, _duration(duration_ms))

    @property
    def change_log(self) -> ChangeLog:
        assert self.log is not None, "the change log is set before any step runs"
        return self.log

    def _entries(
        self, step: MigrationInfo, started: dt.datetime, finished: dt.datetime, duration_ms: int
    ) -> list[LogEntry]:
        return step_entries(
            self.penv, self.change_log, step, started, self.options.plan_digest, duration_ms,
            finished,
        )  # fmt: skip

    def flush(self) -> None:
        entries = [entry for noted in self.pending for entry in self._entries(*noted)]
        self.change_log.append(self.connection, *entries)
        self.pending.clear()


def step_entries(
    penv: ProjectEnv,
    log_: ChangeLog,
    step: MigrationInfo,
    started: dt.datetime,
    plan_digest: str,
    duration_ms: int | None = None,
    finished: dt.datetime | None = None,
) -> list[LogEntry]:
    """Change-log rows for one Alembic step (a stamp may move several revisions)."""
    if step.is_stamp:
        direction = Direction.STAMP if step.is_upgrade else Direction.STAMP_DOWN
        revisions = step.up_revision_ids if step.is_upgrade else step.down_revision_ids
        revisions = revisions or step.up_revision_ids
    else:
        direction = Direction.UPGRADE if step.is_upgrade else Direction.DOWNGRADE
        revisions = step.up_revision_ids
    entries = []
    for rev in revisions:
        script = penv.script.get_revision(rev)
        if script is None or script.path is None:
            continue
        info = penv.info(script)
        entries.append(log_.entry(
            revision=rev, down_revisions=list(step.down_revision_ids), direction=direction,
            description=info.message, path=info.path, checksum=penv.checksum(script.path),
            started=started, plan_digest=plan_digest, duration_ms=duration_ms, finished=finished,
        ))  # fmt: skip
    return entries


def safety_checks(
    penv: ProjectEnv, connection: Connection, log_: ChangeLog, current: Sequence[str]
) -> VerifyResult:
    """Refuse to write over a failed MySQL run or a repository that no longer matches:
    exactly what ``runner verify`` reports, so the two never disagree."""
    result = verify.check(
        penv.name, penv.target.display, penv.script, current, verify.view(log_, connection),
        penv.checksum,
    )  # fmt: skip
    if not result.ok:
        first = result.problems[0]
        if first.kind in {"failed-run", "interrupted-run"}:
            raise Refused(first.message, project=penv.name)
        more = f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        where = f" {first.revision}" if first.revision else ""
        raise Refused(
            f"verify failed:{where} {first.message}{more}; see: runner verify {penv.name};"
            f" {verify.remedy(first, penv.name)}",
            project=penv.name,
        )
    return result


def run_write(
    penv: ProjectEnv,
    action: Direction,
    steps_fn: StepsFn,
    options: WriteOptions,
    check: bool = False,
    precheck: Callable[[Sequence[str]], None] | None = None,
    **context_kw: Any,
) -> MigrateResult:
    """Run a writing command under the lock, with checks and change-log rows.

    ``check`` runs the safety checks (``upgrade``, ``downgrade``); ``precheck``
    is called with the current revisions under the lock (``apply``: the
    database must still be where the plan starts).
    """
    provenance.prefetch(os.environ, penv.project.root, penv.project.path)  # while we connect
    session = options.session(penv.target.session)
    if session != penv.target.session:
        penv = penv.pointed_at(dataclasses.replace(penv.target, session=session))
    first: _Write | None = None
    timeouts = 0
    committed: list[Script] = []  # by attempts that then gave up waiting for a lock
    with (
        open_connection(penv, options.lock_timeout) as connection,
        locking.hold(connection, penv.name, options.lock_timeout),
    ):
        watch = retry.WriteWatch(connection)
        try:
            while True:
                attempt = retry.Attempt(timeouts + 1, session.retries + 1)
                # We hold the project's lock across attempts: the database moved only by
                # our own committed revisions, so what ``precheck`` checked still holds.
                write = _Write(penv, connection, action, steps_fn, options, check,
                               precheck if first is None else None, context_kw, attempt=attempt,
                               watch=watch)  # fmt: skip
                try:
                    before, run = write.run(write.mode())
                    break
                except retry.TryAgain as again:
                    first = first or write
                    committed += write.committed()
                    log.warning("%s", again)
                    time.sleep(again.wait)
                    timeouts += 1
                except DBAPIError as exc:  # bookkeeping or a commit, outside any step
                    if locking.busy(exc):
                        raise  # SQLite's write lock: the lock's own timeout (locking.hold)
                    where = write.where()
                    raise classify(exc, penv.name, penv.target, f"running {action}", where) from exc
        finally:
            watch.close()
        if first is not None:
            before = first.before
        after = run.heads_after if run.heads_after is not None else before
        if (run.heads_after is not None or committed) and not write.fingerprinted:
            # Steps ran and committed on their own: the schema they left, for drift.
            fingerprint.after_write(penv, connection, write.hook.log if write.hook else None,
                                    after, options.plan_digest)  # fmt: skip
    done = [*committed, *(getattr(s, "revision", None) for s in run.planned)]
    return MigrateResult(
        project=penv.name,
        url=penv.target.display,
        action=action,
        before=list(before),
        after=list(after),
        steps=_infos(penv, done),
        lock_timeouts=timeouts,
    )


def _infos(penv: ProjectEnv, scripts: Sequence[Script | None]) -> list[RevisionInfo]:
    """The revisions of ``scripts``, each once, in order."""
    seen: dict[str, RevisionInfo] = {}
    for script in scripts:
        if isinstance(script, Script) and script.revision not in seen:
            seen[script.revision] = penv.info(script)
    return list(seen.values())


# The texts of env.py files seen to open their own connection, in this process.
_CONNECTS_ITSELF: set[bytes] = set()
# An env.py reaches our connection through Config.attributes, itself or by way of
# runner.contract: one whose text has neither word cannot use it.
_OUR_CONNECTION = (b"attributes", b"contract")


def _env_py_text(penv: ProjectEnv) -> bytes:
    """env.py's bytes (b"" if unreadable)."""
    try:
        return Path(penv.script.env_py_location).read_bytes()
    except OSError:
        return b""


def _may_take_ours(penv: ProjectEnv) -> bool:
    """Whether a one-pass write is worth trying: env.py might migrate on our connection.

    Not when its text never mentions ``attributes`` or ``contract`` (``alembic
    init``'s), nor when it was seen to open its own connection earlier in this
    process (the other targets of a group, projects with the same stock env.py).
    A wrong "no" costs speed only: two passes are as correct.
    """
    text = _env_py_text(penv)
    return text not in _CONNECTS_ITSELF and any(word in text for word in _OUR_CONNECTION)


@dataclass
class _Write:
    """One writing command on one locked connection: what to run, and how."""

    penv: ProjectEnv
    connection: Connection
    action: Direction
    steps_fn: StepsFn
    options: WriteOptions
    safety: bool  # run safety_checks first
    precheck: Callable[[Sequence[str]], None] | None
    context_kw: dict[str, Any]
    _planned: dict[tuple[str, ...], Sequence[Any]] = field(default_factory=dict)
    before: tuple[str, ...] = ()  # where the database was when the migration began
    started: bool = False  # ``before`` is known
    per_step_commits: bool = False  # each step commits (PER_REVISION, MARKED)
    hook: _Recorder | None = None
    needs_autocommit: bool = False  # a step to run calls autocommit_block
    attempt: retry.Attempt = retry.FIRST
    watch: retry.WriteWatch | None = None  # changes made by the running revision
    env_connects_itself: bool = False  # a stock env.py: the watch cannot see its statements
    fingerprinted: bool = False  # the schema fingerprint went in with the steps' rows

    def committed(self) -> list[Script]:
        """Revisions this write committed one by one (before it failed)."""
        if not self.per_step_commits or self.hook is None:
            return []
        found = [self.penv.script.get_revision(rev) for rev in self.hook.done]
        return [script for script in found if script is not None]

    def mode(self) -> WriteMode:
        """Decide, once, how this write uses transactions."""
        kind = backend(self.connection.dialect.name)
        history_uses_it = any(calls_autocommit_block(s) for s in self.penv.script.walk_revisions())
        if kind.transactional_ddl and not self.options.per_revision and history_uses_it:
            # Only then does the answer depend on where the database is: read it.
            current = read_env(self.penv, self.connection).current
            try:
                steps = self.steps(current)
            except Exception:  # an invalid destination: the real run reports it properly
                steps = []
            self.needs_autocommit = any(
                calls_autocommit_block(step.revision, step.is_upgrade)
                for step in steps
                if isinstance(getattr(step, "revision", None), Script)
            )
        runs_ddl = self.action in {Direction.UPGRADE, Direction.DOWNGRADE}
        mode = write_mode(kind, self.options.per_revision, runs_ddl, self.needs_autocommit)
        if mode is WriteMode.ONE_PASS and not _may_take_ours(self.penv):
            # What one_pass would find out by trying: two passes, without the try.
            return WriteMode.SHARED_TRANSACTION
        return mode

    def run(self, mode: WriteMode) -> tuple[tuple[str, ...], EnvRun]:
        """Run the write in ``mode``: current revisions before, and what ran."""
        if mode is WriteMode.ONE_PASS:
            return self.one_pass()
        return self.two_passes(mode)

    def steps(self, current: Any, context: MigrationContext | None = None) -> Sequence[Any]:
        """``steps_fn`` for these current revisions, computed once: the autocommit
        check and the run ask for the same steps under the same lock."""
        key = tuple(sorted(current))
        if key not in self._planned:
            self._planned[key] = self.steps_fn(current, context)  # type: ignore[arg-type]
        return self._planned[key]

    def checks(self, seen: EnvRun) -> ChangeLog:
        """Create the change log if needed, run the checks; return the log."""
        log_ = changelog.project_log(self.penv, seen.version_table_schema)
        log_.ensure(self.connection, seen.current)
        if self.safety and self.action == Direction.UPGRADE:  # an older checkout: refused
            newer.check_write(self.penv, self.connection, log_, seen.current)
        if self.safety:
            safety_checks(self.penv, self.connection, log_, seen.current)
        if self.precheck is not None:
            self.precheck(seen.current)
        return log_

    def one_pass(self) -> tuple[tuple[str, ...], EnvRun]:
        """Checks and migration in one pass through env.py and one transaction.

        The one decision that cannot be made before env.py runs: whether env.py
        migrates on our connection. A stock env.py (``alembic init``'s) opens its
        own, and our checks must then be committed before it migrates, so on
        finding that out the transaction is rolled back, before anything ran,
        and the write starts over in two passes (and :func:`_may_take_ours`
        remembers that env.py).
        """
        hook = _Recorder(self.penv, None, self.options, self.connection, buffered=True)
        hook.watch = self.watch
        self.hook = hook

        def prepare(seen: EnvRun, context: MigrationContext) -> None:
            self.before, self.started = seen.current, True
            hook.log = self.checks(seen)

        self.connection.begin()
        try:
            run = self.migrate(
                lambda h: self.in_one_transaction(h, prepare), hook, WriteMode.ONE_PASS
            )
        except EnvConnectsItself:
            _CONNECTS_ITSELF.add(_env_py_text(self.penv))
            self.connection.rollback()
            return self.two_passes(WriteMode.SHARED_TRANSACTION)
        return run.current, run

    def two_passes(self, mode: WriteMode) -> tuple[tuple[str, ...], EnvRun]:
        """Checks in a first pass, the migration in a second.

        Both passes share one transaction in ``SHARED_TRANSACTION`` mode when
        env.py works on our connection; otherwise the checks are committed
        first (a stock env.py's own connection must see the change-log table).
        """
        connection = self.connection
        transaction = connection.begin()
        try:
            before = read_env(self.penv, connection)
            log_ = self.checks(before)
        except BaseException:
            transaction.rollback()
            raise
        self.before, self.started = before.current, True
        self.env_connects_itself = not before.used_our_connection
        self.per_step_commits = mode in {WriteMode.PER_REVISION, WriteMode.MARKED}
        self.say_what_holds(before)
        shared = mode is WriteMode.SHARED_TRANSACTION and before.used_our_connection
        if not shared:
            transaction.commit()
            if not before.used_our_connection:
                # Our BEGIN IMMEDIATE would lock a stock env.py's own connection out;
                # the runners' lock file (runner.db.locking) still keeps them apart.
                begin_plainly(connection)
        hook = self.hook = _Recorder(self.penv, log_, self.options, connection, buffered=shared)
        hook.watch = self.watch
        migrate_in = {
            WriteMode.SHARED_TRANSACTION: self.in_one_transaction,
            WriteMode.PER_REVISION: self.per_revision,
            WriteMode.MARKED: self.marked,
        }[mode]
        return before.current, self.migrate(migrate_in, hook, mode)

    def say_what_holds(self, before: EnvRun) -> None:
        """Say, before anything runs, when this run is not all-or-nothing, and why.

        (Where DDL commits itself, MySQL, that is always so and the README says it;
        the in-progress rows make the next run stop at a half-applied revision.)"""
        name = self.penv.name
        if self.needs_autocommit and before.used_our_connection:
            log.info(
                "%s: a pending revision uses autocommit_block (CREATE INDEX CONCURRENTLY and"
                " the like), which cannot run inside one transaction: committing after each"
                " revision for this run",
                name,
            )
        elif self.needs_autocommit:
            log.warning(
                "%s: a pending revision uses autocommit_block, and env.py opens its own"
                " connection and decides its own transactions: it needs"
                " transaction_per_migration=True in its context.configure() for that",
                name,
            )
        if not before.used_our_connection:
            log.warning(
                "%s: env.py opens its own connection, so this run is not all-or-nothing: a"
                " failure leaves the revisions before it applied (the runner's env.py"
                " template takes the runner's connection)",
                name,
            )

    def migrate(
        self, migrate_in: Callable[[_Recorder], EnvRun], hook: _Recorder, mode: WriteMode
    ) -> EnvRun:
        """Migrate with ``migrate_in``; on failure record it and say where we are."""
        if self.watch is not None:
            self.watch.reset()
        try:
            return migrate_in(hook)
        except MigrationFailed as exc:
            raise self.record_failure(hook, exc, mode) from exc

    def in_one_transaction(self, hook: _Recorder, prepare: PrepareHook | None = None) -> EnvRun:
        """The migration in the caller's open transaction (else one of our own), its
        change-log rows written just before the commit."""
        connection = self.connection
        if not connection.in_transaction():
            connection.begin()
        run = run_env(
            self.penv, self.steps, connection, on_step=hook, prepare=prepare,
            ours_only=prepare is not None, **self.context_kw,
        )  # fmt: skip
        hook.flush()
        if hook.buffered and run.heads_after is not None:
            # The steps ran in this transaction: the fingerprint of the schema they left
            # commits with them (one commit, and never a write committed without it).
            fingerprint.after_write(self.penv, connection, hook.log, run.heads_after,
                                    self.options.plan_digest, in_transaction=True)  # fmt: skip
            self.fingerprinted = True
        connection.commit()
        return run

    def per_revision(self, hook: _Recorder) -> EnvRun:
        """The migration with Alembic committing after each revision (its rows with it)."""
        run = run_env(
            self.penv, self.steps, self.connection, on_step=hook, per_migration=True,
            **self.context_kw,
        )  # fmt: skip
        if self.connection.in_transaction():  # whatever Alembic read after its last commit
            self.connection.commit()
        return run

    def record_failure(self, hook: _Recorder, exc: MigrationFailed, mode: WriteMode) -> RunnerError:
        """Roll back and write a failure row on its own; the error to raise, saying where
        the database now is.

        Only while the lock is still ours: a connection that was lost (server
        restart, session killed) took the lock with it, and another run may hold it
        now, so nothing is written and the error says so (exit 3).
        """
        connection = self.connection
        where_before = self.where_if_lost(hook, mode)
        cause = exc.__cause__
        if isinstance(cause, DBAPIError) and read_only(cause):  # nothing can be written
            return classify(
                cause, self.penv.name, self.penv.target, f"running {self.action}", where_before
            )
        if connection.invalidated:
            return DatabaseUnreachable(
                f"{exc.message}; the connection was lost and the project's lock with it, so"
                f" the failure is not in the change log; the database is at {where_before}"
                f" (check: runner status {self.penv.name})",
                project=exc.project,
            )
        log_ = hook.change_log
        timed_out: _TimedOut | None = None
        try:
            if connection.in_transaction():
                connection.rollback()
            timed_out = self.timed_out(exc, mode)
            log_.forget()
            with connection.begin():
                current = read_env(self.penv, connection).current
                log_.ensure(connection, current)  # the rollback may have taken a new table
                row_error = timed_out.row if timed_out is not None else str(exc)
                log_.append(connection, self.failure_entry(hook, exc, row_error))
        except (DBAPIError, RunnerError) as recording:
            lost = connection.invalidated or isinstance(recording, DatabaseUnreachable)
            error: type[RunnerError] = DatabaseUnreachable if lost else MigrationFailed
            return error(
                f"{exc.message}; the failure could not be recorded in the change log"
                f" ({_reason(recording)}); the database is at {where_before}",
                project=exc.project,
            )
        if timed_out is not None:
            return timed_out.error(self, exc, describe_revs(current))
        return MigrationFailed(
            f"{exc.message}; database is at {describe_revs(current)}", project=exc.project
        )

    def timed_out(self, exc: MigrationFailed, mode: WriteMode) -> _TimedOut | None:
        """What a failure that gave up waiting for a lock means for this attempt (call
        after the rollback: it asks the database who holds the table); None for any
        other failure."""
        cause = retry.lock_timeout_cause(exc)
        kind = backend(self.connection.dialect.name)
        if cause is None or not kind.lock_timed_out(cause):
            return None
        tables = touched(cause.statement or "", kind.sqlglot_dialect)
        revision = (exc.failed_step or ("", (), ""))[0]
        script = self.penv.script.get_revision(revision) if revision else None
        outside = mode is WriteMode.MARKED or (
            script is not None
            and calls_autocommit_block(script, self.action is not Direction.DOWNGRADE)
        )
        # A CONCURRENTLY statement cut short leaves an INVALID index behind: never "nothing".
        exempt = bool(kind.lock_exempt) and re.search(
            kind.lock_exempt or "", cause.statement or "", re.IGNORECASE | re.DOTALL
        )
        untouched = (
            self.watch is not None and not self.env_connects_itself and self.watch.writes == 0
        )
        kept_nothing = not exempt and (not outside or untouched)
        wait = self.penv.target.session.lock_wait(kind)
        return _TimedOut(
            tables=", ".join(t.shown for t in tables) or "a table",
            blockers=guard.blockers(self.connection, kind, tables),
            wait=wait or 0.0,
            kept_nothing=kept_nothing,
            attempt=self.attempt,
            pause=retry.pause(self.penv.target.session.backoff, self.attempt),
        )

    def where(self) -> str:
        """Where the database is after an error outside a step: the last revision a
        committed step recorded, else where the run began (its work rolled back)."""
        if self.per_step_commits and self.hook is not None and self.hook.heads is not None:
            return describe_revs(self.hook.heads)
        return describe_revs(self.before) if self.started else UNCHANGED

    def where_if_lost(self, hook: _Recorder, mode: WriteMode) -> str:
        """Where the database is when it can no longer be asked: a single transaction
        rolled back to where the run began; per revision, the last revision recorded."""
        if mode in {WriteMode.PER_REVISION, WriteMode.MARKED} and hook.heads is not None:
            return describe_revs(hook.heads)
        return describe_revs(self.before)

    def failure_entry(self, hook: _Recorder, exc: MigrationFailed, error: str) -> LogEntry:
        """The failure row: the failing revision's file and checksum, and how long the
        step ran before it failed (from the recorder's clock, in milliseconds)."""
        revision, downs, description = exc.failed_step or ("", (), "")
        path = checksum = ""
        if revision:
            script = self.penv.revision(revision)
            if script.path is not None:
                path, checksum = self.penv.info(script).path, self.penv.checksum(script.path)
        duration_ms = int((time.perf_counter() - hook.last_clock) * 1000)
        return hook.change_log.entry(
            revision=revision, down_revisions=list(downs), direction=self.action,
            description=description, path=path, checksum=checksum, started=hook.last,
            success=False, error=error, plan_digest=self.options.plan_digest,
            duration_ms=duration_ms,
        )  # fmt: skip

    def marked(self, hook: _Recorder) -> EnvRun:
        """One revision at a time, each after a committed "in progress" row.

        Where DDL commits itself, a run killed inside a revision can leave part
        of it applied with nothing rolled back. The in-progress row (a failure
        row until the step's success row follows it) makes the next ``upgrade``
        refuse and name the revision, instead of tripping over half-applied DDL.
        """
        penv, connection, log_ = self.penv, self.connection, hook.change_log
        planned: list[Any] = []

        def plan(rev: Any, context: Any) -> list[Any]:
            planned.extend(self.steps(rev, context))
            return []

        total = run_env(penv, plan, connection, dont_mutate=True)
        if connection.in_transaction():
            connection.commit()
        for step in planned:
            revision = getattr(step, "revision", None)
            if revision is not None:
                info = penv.info(revision)
                with connection.begin():
                    log_.append(connection, log_.entry(
                        revision=info.revision, down_revisions=info.down_revisions,
                        direction=self.action, description=info.message, path=info.path,
                        checksum="", started=changelog.utcnow(), success=False,
                        error=changelog.IN_PROGRESS, plan_digest=self.options.plan_digest,
                    ))  # fmt: skip
            if self.watch is not None:
                self.watch.reset()  # the in-progress row is bookkeeping, not the revision
            run = run_env(
                penv, _only(step), connection, on_step=hook, per_migration=True,
                **self.context_kw,
            )  # fmt: skip
            if connection.in_transaction():
                connection.commit()
            total.planned.append(step)
            total.applied += run.applied
            total.heads_after = run.heads_after
        return total


@dataclass(frozen=True)
class _TimedOut:
    """A revision that gave up waiting for a lock: on what, behind whom, whether nothing
    of it was kept (then it may be tried again), which attempt it was."""

    tables: str
    blockers: str
    wait: float
    kept_nothing: bool
    attempt: retry.Attempt
    pause: float

    @property
    def retries(self) -> bool:
        return self.kept_nothing and not self.attempt.last

    @property
    def row(self) -> str:
        """The failure row's error: exactly what happened, and what the run does next."""
        behind = f"; {self.blockers}" if self.blockers else ""
        if not self.kept_nothing:
            return (f"lock timeout on {self.tables} after part of the revision was committed"
                    f" (not retried){behind}")  # fmt: skip
        head = changelog.LOCK_TIMEOUT.format(attempt=self.attempt)
        then = f"will retry in {self.pause:.1f} s" if self.retries else "gave up"
        return f"{head}: {then}; waited {self.wait:g} s for {self.tables}{behind}"

    def error(self, write: _Write, exc: MigrationFailed, where: str) -> RunnerError:
        """What to raise: :class:`retry.TryAgain`, or the run's failure naming it all."""
        step = _step_words(exc)
        behind = f" ({self.blockers})" if self.blockers else ""
        if self.retries:
            return retry.TryAgain(
                f"lock timeout: {step} waited {self.wait:g} s for"
                f" {self.tables}{behind}; rolled back ({self.attempt}), trying again in"
                f" {self.pause:.1f} s",
                self.pause, exc.failed_step, project=exc.project,
            )  # fmt: skip
        if not self.kept_nothing:
            return MigrationFailed(
                f"lock timeout: {step} waited {self.wait:g} s for {self.tables}{behind} after"
                " part of it was committed (DDL commits itself, or autocommit_block), so it"
                f" was not retried; database is at {where}; check the revision's objects by"
                f" hand (runner verify {write.penv.name})",
                exc.failed_step, project=exc.project,
            )  # fmt: skip
        return MigrationFailed(
            f"lock timeout: {step} could not lock {self.tables} within {self.wait:g} s in"
            f" {self.attempt.total} attempt(s){behind}; nothing of it was kept, database is"
            f" at {where}; run again once the table is free, or raise db_lock_timeout or"
            " lock_retries for this target (targets.toml, --db-lock-timeout, --lock-retries)",
            exc.failed_step, project=exc.project,
        )  # fmt: skip


def _step_words(exc: MigrationFailed) -> str:
    """``upgrade a1 -> a2 (add a note)`` from a failure's message (``failed in ...: why``)."""
    text = exc.message.removeprefix("failed in ")
    return text.split(": ", 1)[0] if text != exc.message else "a revision"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RunnerError):
        return exc.message
    from runner.db.connect import describe_db_error

    return describe_db_error(exc)


def _duration(ms: int) -> str:
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _only(step: Any) -> StepsFn:
    """A steps function that runs exactly ``step``."""
    return lambda _rev, _ctx: [step]
