"""The write path: every upgrade, downgrade, stamp and apply goes through here.

One visible sequence of steps (:func:`run_write`):

1. connect, take the project's lock (:mod:`runner.locking`);
2. on PostgreSQL, one pass through env.py in one transaction: once env.py has
   configured its context, read where the database is, create the change-log
   table if needed and run the safety checks (failed state, ``verify``); then
   migrate, and write one change-log row per applied step before the commit;
3. otherwise (SQLite, MySQL, one transaction per revision, a stock env.py with
   its own connection, ``autocommit_block``): the checks in a first pass, then
   the migration in a second (in the same transaction where it can be);
4. on failure: roll back, record a failure row on its own, say where the
   database now is; release the lock (the connection closing releases it too).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy.engine import Connection

from runner import __version__, changelog, locking, provenance, verify
from runner.changelog import ChangeLog, LogEntry
from runner.environment import EnvRun, PrepareHook, ProjectEnv, StepsFn
from runner.errors import MigrationFailed, Refused
from runner.results import MigrateResult, VerifyResult
from runner.session import describe_revs, open_connection, read_env, revision_info

log = logging.getLogger("runner")

# DDL on these commits itself: a failed run may leave a half-applied revision.
NON_TRANSACTIONAL = {"mysql", "mariadb"}
# Always checked in a pass of their own. SQLite too: its write lock is the
# transaction (BEGIN IMMEDIATE, taken before env.py runs), and a stock env.py's
# own connection creates its version table before we learn which connection
# env.py uses, so it would wait on our lock.
TWO_PASSES = NON_TRANSACTIONAL | {"sqlite"}


@dataclass(frozen=True)
class WriteOptions:
    """Knobs of a writing command."""

    lock_timeout: float = locking.DEFAULT_TIMEOUT
    per_revision: bool = False  # one transaction per revision instead of one for the run
    plan_digest: str = ""  # set by `apply`: which reviewed plan this run executes


DEFAULT_OPTIONS = WriteOptions()


def change_log(penv: ProjectEnv, schema: str | None) -> ChangeLog:
    """The project's change log, stamped with who is running and from where."""
    return ChangeLog.for_project(
        penv.name,
        schema,
        provenance.read(os.environ, _repository(penv)),
        db_user=penv.target.url.username or "",
        runner_version=__version__,
    )


def _repository(penv: ProjectEnv) -> Path:
    """The monorepo holding the project (``<repository>/projects/<name>``)."""
    return penv.project.path.parent.parent


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
        self.last = changelog.utcnow()
        self.last_clock = time.perf_counter()

    def __call__(self, ctx: MigrationContext, step: MigrationInfo) -> None:
        # Steps run back to back: each one started when the previous one finished.
        started, self.last = self.last, changelog.utcnow()
        clock, self.last_clock = self.last_clock, time.perf_counter()
        noted = (step, started, self.last, int((self.last_clock - clock) * 1000))
        if self.buffered and ctx.connection is self.connection:
            self.pending.append(noted)
        else:
            assert ctx.connection is not None
            self.change_log.append(ctx.connection, *self._entries(*noted))

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
        direction = "stamp" if step.is_upgrade else "stamp-down"
        revisions = step.up_revision_ids if step.is_upgrade else step.down_revision_ids
        revisions = revisions or step.up_revision_ids
    else:
        direction = "upgrade" if step.is_upgrade else "downgrade"
        revisions = step.up_revision_ids
    entries = []
    for rev in revisions:
        script = penv.script.get_revision(rev)
        if script is None or script.path is None:
            continue
        info = revision_info(penv, script)
        entries.append(log_.entry(
            revision=rev, down_revisions=list(step.down_revision_ids), direction=direction,
            description=info.message, path=info.path, checksum=penv.checksum(script.path),
            started=started, plan_digest=plan_digest, duration_ms=duration_ms, finished=finished,
        ))  # fmt: skip
    return entries


def safety_checks(
    penv: ProjectEnv, connection: Connection, log_: ChangeLog, current: Sequence[str]
) -> VerifyResult:
    """Refuse to upgrade over a failed MySQL run or a repository that no longer matches."""
    entries = log_.entries(connection, newest_first=False)
    if connection.dialect.name in NON_TRANSACTIONAL and entries and not entries[-1].success:
        failed = entries[-1]
        what = (
            f"stopped during {failed.direction} {failed.revision} (started"
            f" {failed.started_at:%Y-%m-%d %H:%M} UTC; killed?)"
            if failed.error == IN_PROGRESS
            else f"failed in {failed.direction} {failed.revision} at"
            f" {failed.finished_at:%Y-%m-%d %H:%M} UTC ({failed.error[:200]})"
        )
        raise Refused(
            f"{penv.name}: the last run {what}; this database cannot roll DDL back, so check"
            f" it by hand, then run: runner repair {penv.name}"
        )
    result = verify.check(
        penv.name, penv.target.display, penv.script, current, entries, penv.checksum
    )
    if not result.ok:
        first = result.problems[0]
        more = f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        where = f" {first.revision}" if first.revision else ""
        raise Refused(
            f"{penv.name}: verify failed:{where} {first.message}{more}; see: runner verify"
            f" {penv.name}; after review: runner repair {penv.name}"
        )
    return result


def run_write(
    penv: ProjectEnv,
    action: str,
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
    provenance.prefetch(os.environ, _repository(penv))  # git runs while we connect
    with (
        open_connection(penv, options.lock_timeout) as connection,
        locking.hold(connection, penv.name, options.lock_timeout),
    ):
        write = _Write(penv, connection, action, steps_fn, options, check, precheck, context_kw)
        outcome = None
        if not options.per_revision and connection.dialect.name not in TWO_PASSES:
            outcome = write.one_pass()
        if outcome is None:
            outcome = write.two_passes()
    before, run = outcome
    after = run.heads_after if run.heads_after is not None else before
    return MigrateResult(
        project=penv.name,
        url=penv.target.display,
        action=action,
        before=list(before),
        after=list(after),
        steps=[revision_info(penv, s.revision) for s in run.planned if hasattr(s, "revision")],
    )


class _TwoPassesNeeded(Exception):
    """Raised inside the one-pass run when this run needs the two-pass path."""


# The error text of an in-progress row; a later success row supersedes it.
IN_PROGRESS = "started, not finished (the run was interrupted during this revision)"


@dataclass
class _Write:
    """One writing command on one locked connection: what to run, and how."""

    penv: ProjectEnv
    connection: Connection
    action: str
    steps_fn: StepsFn
    options: WriteOptions
    safety: bool  # run safety_checks first
    precheck: Callable[[Sequence[str]], None] | None
    context_kw: dict[str, Any]
    _planned: dict[tuple[str, ...], Sequence[Any]] = field(default_factory=dict)

    def steps(self, current: Any, context: MigrationContext | None = None) -> Sequence[Any]:
        """``steps_fn`` for these current revisions, computed once: the autocommit
        check and the run ask for the same steps under the same lock."""
        key = tuple(sorted(current))
        if key not in self._planned:
            self._planned[key] = self.steps_fn(current, context)  # type: ignore[arg-type]
        return self._planned[key]

    def checks(self, seen: EnvRun) -> ChangeLog:
        """Create the change log if needed, run the checks; return the log."""
        log_ = change_log(self.penv, seen.version_table_schema)
        log_.ensure(self.connection)
        if self.safety:
            safety_checks(self.penv, self.connection, log_, seen.current)
        if self.precheck is not None:
            self.precheck(seen.current)
        return log_

    def one_pass(self) -> tuple[tuple[str, ...], EnvRun] | None:
        """Checks and migration in one pass through env.py and one transaction.

        Nothing can slip between the checks and the migration, and env.py runs
        once (the cost over bare Alembic stays small). ``None`` when env.py
        turns out to use a connection of its own or a pending revision needs
        ``autocommit_block``: the transaction is rolled back before anything ran.
        """
        hook = _Recorder(self.penv, None, self.options, self.connection, buffered=True)

        def prepare(seen: EnvRun, context: MigrationContext) -> None:
            if context.connection is not self.connection:
                raise _TwoPassesNeeded  # a stock env.py: our checks need their own commit
            hook.log = self.checks(seen)
            if self.uses_autocommit(seen.current):
                _say_autocommit(self.penv)
                raise _TwoPassesNeeded

        self.connection.begin()
        try:
            run = self.migrate(hook, per_revision=False, prepare=prepare)
        except _TwoPassesNeeded:
            self.connection.rollback()
            return None
        return run.current, run

    def two_passes(self) -> tuple[tuple[str, ...], EnvRun]:
        """Checks in a first pass, the migration in a second.

        Both passes share one transaction when env.py works on our connection
        and the run is one transaction (SQLite); otherwise the checks are
        committed first: MySQL (DDL commits itself), one transaction per
        revision, a stock env.py's own connection (which must see the
        change-log table).
        """
        connection = self.connection
        transaction = connection.begin()
        try:
            before = read_env(self.penv, connection)
            log_ = self.checks(before)
        except BaseException:
            transaction.rollback()
            raise
        per_revision = self.options.per_revision or connection.dialect.name in NON_TRANSACTIONAL
        if not per_revision and self.uses_autocommit(before.current):
            _say_autocommit(self.penv)
            per_revision = True
        if per_revision or not before.used_our_connection:
            transaction.commit()
            if connection.dialect.name == "sqlite" and not before.used_our_connection:
                # Our BEGIN IMMEDIATE would lock a stock env.py's own connection out;
                # the runners' lock file (runner.locking) still keeps them apart.
                connection.info.pop(locking.SQLITE_BEGIN_KEY, None)
        hook = _Recorder(self.penv, log_, self.options, connection, buffered=not per_revision)
        return before.current, self.migrate(hook, per_revision)

    def uses_autocommit(self, current: Sequence[str]) -> bool:
        """Whether a step about to run calls ``autocommit_block`` in its upgrade or downgrade.

        Read from the compiled functions' names (no file access): catches the
        usual ``op.get_context().autocommit_block()``, not a call hidden in a helper.
        """
        try:
            # Our steps functions only read the current heads (the context is unused).
            steps = self.steps(tuple(current))
        except Exception:  # an invalid target: the real run reports it properly
            return False
        for step in steps:
            module = getattr(getattr(step, "revision", None), "module", None)
            for name in ("upgrade", "downgrade"):
                code = getattr(getattr(module, name, None), "__code__", None)
                if code is not None and "autocommit_block" in code.co_names:
                    return True
        return False

    def migrate(
        self, hook: _Recorder, per_revision: bool, prepare: PrepareHook | None = None
    ) -> EnvRun:
        """Migrate, in the caller's open transaction if any, else in one of our own
        (or, per revision, in Alembic's); on failure record it and say where we are."""
        penv, connection = self.penv, self.connection
        started = changelog.utcnow()
        try:
            runs_ddl = self.action in {"upgrade", "downgrade"}  # a stamp moves the version only
            if connection.dialect.name in NON_TRANSACTIONAL and runs_ddl:
                return self.marked(hook)
            if per_revision:
                # Also the MySQL default: it commits DDL by itself, so committing the
                # version and log rows after each step keeps them true even if killed.
                penv.config.attributes["transaction_per_migration"] = True
                try:
                    run = penv.run(self.steps, connection, on_step=hook, **self.context_kw)
                finally:
                    penv.config.attributes.pop("transaction_per_migration", None)
                if connection.in_transaction():  # whatever Alembic read after its last commit
                    connection.commit()
                return run
            if not connection.in_transaction():
                connection.begin()
            run = penv.run(self.steps, connection, on_step=hook, prepare=prepare, **self.context_kw)
            hook.flush()
            connection.commit()
            return run
        except MigrationFailed as exc:
            raise self.record_failure(hook.change_log, exc, started) from exc

    def record_failure(
        self, log_: ChangeLog, exc: MigrationFailed, started: dt.datetime
    ) -> MigrationFailed:
        """Roll back, write a failure row on its own; the error to raise, saying where
        the database now is."""
        connection = self.connection
        if connection.in_transaction():
            connection.rollback()
        log_.forget()
        failed = exc.failed_step
        with connection.begin():
            log_.ensure(connection)  # the rollback may have taken a new table with it
            current = read_env(self.penv, connection).current
            revision, downs, description = failed or ("", (), "")
            log_.append(connection, log_.entry(
                revision=revision, down_revisions=list(downs), direction=self.action,
                description=description, path="", checksum="", started=started,
                success=False, error=str(exc), plan_digest=self.options.plan_digest,
            ))  # fmt: skip
        return MigrationFailed(f"{exc}; database is at {describe_revs(current)}")

    def marked(self, hook: _Recorder) -> EnvRun:
        """MySQL/MariaDB: one revision at a time, each after a committed "in progress" row.

        Their DDL commits itself, so a run killed inside a revision can leave
        part of it applied with nothing rolled back. The in-progress row (a
        failure row until the step's success row follows it) makes the next
        ``upgrade`` refuse and name the revision, instead of tripping over
        half-applied DDL.
        """
        penv, connection, log_ = self.penv, self.connection, hook.change_log
        planned: list[Any] = []

        def plan(rev: Any, context: Any) -> list[Any]:
            planned.extend(self.steps(rev, context))
            return []

        total = penv.run(plan, connection, dont_mutate=True)
        if connection.in_transaction():
            connection.commit()
        penv.config.attributes["transaction_per_migration"] = True
        try:
            for step in planned:
                revision = getattr(step, "revision", None)
                if revision is not None:
                    info = revision_info(penv, revision)
                    with connection.begin():
                        log_.append(connection, log_.entry(
                            revision=info.revision, down_revisions=info.down_revisions,
                            direction=self.action, description=info.message, path=info.path,
                            checksum="", started=changelog.utcnow(), success=False,
                            error=IN_PROGRESS, plan_digest=self.options.plan_digest,
                        ))  # fmt: skip
                run = penv.run(_only(step), connection, on_step=hook, **self.context_kw)
                if connection.in_transaction():
                    connection.commit()
                total.planned.append(step)
                total.applied += run.applied
                total.heads_after = run.heads_after
        finally:
            penv.config.attributes.pop("transaction_per_migration", None)
        return total


def _say_autocommit(penv: ProjectEnv) -> None:
    log.info(
        "%s: a pending revision uses autocommit_block (CREATE INDEX CONCURRENTLY and"
        " the like), which cannot run inside one transaction: committing after each"
        " revision for this run",
        penv.name,
    )


def _only(step: Any) -> StepsFn:
    """A steps function that runs exactly ``step``."""
    return lambda _rev, _ctx: [step]
