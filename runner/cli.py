"""Command-line interface: parse arguments, call :mod:`runner.commands`, render.

This module is deliberately thin: each verb parses its options, calls one
plain function and renders what it returns. It owns the one ``except
RunnerError`` of the program (in :func:`main`), which prints a single
``error:`` line and exits with the error's code. What a verb needs is
imported inside it, so ``runner --help`` loads neither SQLAlchemy nor Alembic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner import __version__, options
from runner.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    ConfigError,
    PartialFailure,
    Refused,
    RunnerError,
    Terminated,
)
from runner.options import output_format, write_options
from runner.output import redact

if TYPE_CHECKING:
    from runner.fanout import Fleet
    from runner.project.environment import ProjectEnv
    from runner.project.repository import Project
    from runner.run.fleet import Outcome
    from runner.run.write import WriteOptions

log = logging.getLogger("runner")


@dataclass
class Settings:
    """Options shared by every verb (from the group and the environment)."""

    root: Path
    debug: bool

    def env(self, name: str, url: str | None = None) -> ProjectEnv:
        """Load project ``name`` pointed at its resolved target."""
        from runner.project import repository, resolve
        from runner.project.environment import ProjectEnv

        project = repository.Project.at(self.root, name)
        return ProjectEnv.load(project, resolve.resolve(project, self.root, os.environ, url))

    def each(self, url: str | None) -> Iterator[tuple[Project, ProjectEnv | RunnerError]]:
        """Every project, loaded, or the error that stopped it from loading: for verbs
        that report on all projects and must show the others when one is broken."""
        from runner.project import repository, resolve
        from runner.project.environment import ProjectEnv

        for project in repository.discover(self.root):
            try:
                yield (
                    project,
                    ProjectEnv.load(project, resolve.resolve(project, self.root, os.environ, url)),
                )
            except RunnerError as exc:
                yield project, exc

    def envs(self, name: str | None, all_: bool, url: str | None, verb: str) -> list[ProjectEnv]:
        """One project, or every project with ``--all``; exactly one of the two."""
        from runner.project import repository, resolve
        from runner.project.environment import ProjectEnv

        if name and all_:
            raise ConfigError(f"{verb}: give a project name or --all, not both")
        if all_:
            found = repository.discover(self.root)
            for project in found:
                repository.check_no_twin(project, found)
            return [
                ProjectEnv.load(p, resolve.resolve(p, self.root, os.environ, url)) for p in found
            ]
        if not name:
            raise ConfigError(f"{verb}: missing project name (or --all)")
        return [self.env(name, url)]


def _write_options(lock_timeout: float, transaction_per_revision: bool) -> WriteOptions:
    from click.core import ParameterSource

    from runner.run.write import WriteOptions

    # Given on the command line (or RUNNER_LOCK_TIMEOUT), it wins over a targets file.
    source = click.get_current_context().get_parameter_source("lock_timeout")
    given = source not in (None, ParameterSource.DEFAULT)
    db_lock_timeout, lock_retries = click.get_current_context().meta.get(
        options.GUARD_KEY, (None, None)
    )
    return WriteOptions(lock_timeout=lock_timeout, per_revision=transaction_per_revision,
                        lock_timeout_given=given, db_lock_timeout=db_lock_timeout,
                        lock_retries=lock_retries)  # fmt: skip


def _fleet(targets: options.TargetOptions, all_: bool) -> Fleet:
    """The target options, parsed: which targets, how many at once, this job's shard."""
    from runner import fanout
    from runner.project import targets as declared

    named = [flag for flag, value in (("--env", targets.env), ("--group", targets.group),
                                      ("--target", targets.patterns)) if value]  # fmt: skip
    if len(named) > 1:
        raise ConfigError(f"give one of {' and '.join(named)}, not both")
    shard = declared.parse_shard(targets.shard, os.environ) if targets.shard else None
    choice = declared.Choice(targets.env, targets.group, targets.patterns, everything=all_)
    return fanout.Fleet(choice, targets.jobs, targets.fail_fast, targets.canary, shard,
                        declared.confirmations(targets.confirm, os.environ),
                        targets.junit)  # fmt: skip


def _names(name: str | None, all_: bool, verb: str) -> list[str] | None:
    """The project named, or None for every project (``--all``)."""
    if not name and not all_:
        raise ConfigError(f"{verb}: missing project name (or --all)")
    return [name] if name else None


def _over_targets(
    settings: Settings,
    verb: str,
    names: list[str] | None,
    url: str | None,
    spec: Fleet,
    work: Callable[[ProjectEnv, Any], Any],
    fmt: str,
    *,
    writing: bool,
    text: Callable[[Sequence[Any], Sequence[Outcome], Sequence[tuple[str, str]]], str]
    | None = None,
    unreadable: Callable[[Outcome], Any] | None = None,
) -> list[Outcome]:
    """Run ``work(penv, settings)`` on every selected target and print the results.

    One target, named plainly (``runner upgrade billing``): the result as before,
    and an error is raised as it is. Several (or ``--group``, ``--jobs``, ...): every
    target runs, then a summary (text) or one document with a ``summary`` (JSON);
    the caller decides what failures mean. ``unreadable`` turns a failed target into
    a result row (``status`` lists every target, reachable or not); ``text`` renders
    the results and outcomes instead of the summary table.
    """
    from runner import fanout
    from runner.output import render
    from runner.run import fleet

    plan = fanout.items(settings.root, names, url, spec, work, writing=writing)
    if len(plan.items) == 1 and names is not None and not spec.wants_summary and not plan.skipped:
        item = plan.items[0]
        try:
            result = item.work()
        except RunnerError as exc:
            if exc.project in (None, item.project):
                exc.project = item.label
            raise
        _emit(verb, [result], fmt, text)
        outcomes = [fleet.Outcome(item.project, item.target, fleet.OK, 0.0, result)]
        if spec.junit is not None:
            _targets_junit(spec.junit, verb, outcomes, [])
        return outcomes
    outcomes = fanout.run(plan, spec, writing=writing, on_done=_said(len(plan.items), writing))
    if spec.junit is not None:
        _targets_junit(spec.junit, verb, outcomes, plan.skipped)
    results = []
    for outcome in outcomes:
        if outcome.state == fleet.OK:
            results.append(outcome.result)
        elif outcome.state == fleet.FAILED and unreadable is not None:
            results.append(unreadable(outcome))
    _emitted.append(verb)
    if fmt == "json":
        summary = render.fleet_summary(outcomes, plan.skipped)
        click.echo(render.to_json(verb, results, summary=summary))
    elif text is not None:
        click.echo(redact.scrub(text(results, outcomes, plan.skipped)))
    else:
        click.echo(redact.scrub(render.summary_table(outcomes, plan.skipped)))
    if not plan.items:
        log.info("%s: no target selected%s", verb, " in this shard" if spec.shard else "")
    return outcomes


def _targets_junit(path: Path, verb: str, outcomes: Sequence[Outcome],
                   skipped: Sequence[tuple[str, str]]) -> None:  # fmt: skip
    """One testsuite per project, one testcase per target: failed, or skipped when not
    run or left out (a protected target), with the error as the failure's message."""
    from runner.output import junit

    suites: dict[str, junit.Suite] = {}
    for o in outcomes:
        failures = [junit.Failure(o.error or "failed", f"exit {o.exit_code}")] if (
            o.state == "failed") else []  # fmt: skip
        case = junit.Case(f"{verb}.{o.project}", o.target, o.seconds, failures,
                          "not run after a failure" if o.state == "not run" else None)  # fmt: skip
        suites.setdefault(o.project, junit.Suite(o.project)).cases.append(case)
    for label, why in skipped:
        project, _, target = label.partition("@")
        suite = suites.setdefault(project, junit.Suite(project))
        suite.cases.append(junit.Case(f"{verb}.{project}", target, skipped=why))
    junit.write(path, f"runner {verb}", list(suites.values()))


def _said(total: int, writing: bool = True) -> Callable[[Outcome, int, int], None]:
    """Per target, as it finishes: the terminal's progress line and, for a write, one
    line on stderr (a read's results are all in its table)."""
    failed = [0]

    def done(outcome: Outcome, finished: int, _total: int) -> None:
        from runner.output import progress

        if not writing:
            failed[0] += outcome.state == "failed"
        elif outcome.state == "failed":
            failed[0] += 1
            log.info("%s", outcome.error)
        elif outcome.state == "ok":
            label = outcome.project if outcome.target == "default" else (
                f"{outcome.project}@{outcome.target}")  # fmt: skip
            log.info("%s: done (%.1f s)", label, outcome.seconds)
        progress.headline(f"targets {finished}/{total} done, {failed[0]} failed")

    return done


def _raise_partial(verb: str, outcomes: Sequence[Outcome]) -> None:
    """After a run over several targets: exit 6 naming the failed ones, if any."""
    failed = [o for o in outcomes if o.state == "failed"]
    if not failed:
        return
    if len(outcomes) == 1:  # one target after all: its own error and exit code
        error = RunnerError(failed[0].error or "failed")
        error.exit_code = failed[0].exit_code
        raise error
    not_run = sum(1 for o in outcomes if o.state == "not run")
    labels = ", ".join(f"{o.project}@{o.target} (exit {o.exit_code})" for o in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    tail = f"; {not_run} not run" if not_run else ""
    raise PartialFailure(
        f"{verb}: {len(failed)} of {len(outcomes)} target(s) failed: {labels}{more}{tail}"
        " (see the summary; a rerun does only what is still pending)"
    )


def _emit(
    command: str,
    results: Sequence[Any],
    fmt: str,
    text: Callable[[Sequence[Any], Sequence[Outcome], Sequence[tuple[str, str]]], str]
    | None = None,
) -> None:
    from runner.output import render

    _emitted.append(command)
    if fmt == "json":
        click.echo(render.to_json(command, results))
    elif text is not None:
        click.echo(redact.scrub(text(results, [], [])))
    else:
        click.echo(redact.scrub("\n".join(render.text(r) for r in results)))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@options.ROOT
@options.DEBUG
@click.version_option(__version__, prog_name="runner")
@click.pass_context
def cli(ctx: click.Context, root: Path, debug: bool) -> None:
    """Database change control: drive the Alembic projects under projects/."""
    ctx.obj = Settings(root=root.resolve(), debug=debug)
    from runner.output import render

    # Colour on a terminal only, and never when NO_COLOR is set (no-color.org).
    render.COLOUR = sys.stdout.isatty() and not os.environ.get("NO_COLOR")


pass_settings = click.make_pass_decorator(Settings)
# Commands whose output was printed in this process: a JSON error document is only
# printed when nothing was.
_emitted: list[str] = []


@cli.command("list")
@output_format("text", "json")
@pass_settings
def list_(settings: Settings, fmt: str) -> None:
    """List projects, their heads and database URLs (no database access).

    A project that cannot be read is listed with its problem, the others still are;
    the exit code is then that of the first problem."""
    from runner import commands

    results, failures = [], []
    for project, loaded in settings.each(None):
        try:
            if isinstance(loaded, RunnerError):
                raise loaded
            results.append(commands.describe_project(loaded))
        except RunnerError as exc:
            failures.append(exc)
            results.append(commands.unlisted(project, exc.message))
    if not results and fmt != "json":  # say where we looked, not nothing at all
        from runner.project.repository import PROJECTS_DIR

        click.echo(
            f"no projects under {settings.root / PROJECTS_DIR} (create one with: runner new"
            ' NAME; in the image, mount yours: -v "$PWD/projects:/app/projects")'
        )
        return
    _emit("list", results, fmt)
    _raise_first("list", failures)


@cli.command()
@click.argument("name")
@click.option(
    "--dialect", type=click.Choice(options.DIALECTS), default=None,
    help="Also write projects/NAME/targets.toml declaring the project's dialect.",
)  # fmt: skip
@pass_settings
def new(settings: Settings, name: str, dialect: str | None) -> None:
    """Create projects/NAME as a new Alembic environment with its own version table."""
    from runner import authoring

    _emit("new", [authoring.new_project(settings.root, name, dialect)], "text")


@cli.command()
@click.argument("name")
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--sql", is_flag=True, help="Write paired .upgrade.sql/.downgrade.sql files.")
@click.option("--head", default="head", show_default=True, help="Revision to build on.")
@click.option("--branch-label", default=None, help="Start a named branch.")
@click.option("--depends-on", default=None, help="Revision this one depends on.")
@click.option(
    "--splice", is_flag=True, help="Allow --head to be a revision that is not a head (a branch)."
)
@click.option(
    "--autogenerate", is_flag=True,
    help="Write the operations that bring the database to env.py's target_metadata.",
)  # fmt: skip
@options.URL
@pass_settings
def revision(
    settings: Settings,
    name: str,
    message: str,
    sql: bool,
    head: str,
    branch_label: str | None,
    depends_on: str | None,
    splice: bool,
    autogenerate: bool,
    url: str | None,
) -> None:
    """Create a new revision file in projects/NAME/versions."""
    from runner import authoring

    result = authoring.new_revision(
        settings.env(name, url),
        message,
        sql=sql,
        head=head,
        branch_label=branch_label,
        depends_on=depends_on,
        splice=splice,
        autogenerate=autogenerate,
    )
    _emit("revision", [result], "text")


@cli.command()
@click.argument("name", required=False)
@click.argument("rev", required=False, default="head")
@options.ALL
@options.URL
@options.target_options(writing=True)
@write_options
@click.option(
    "--sql", is_flag=True, help="Print the SQL instead of running it (the same as: runner plan)."
)
@output_format("text", "json")
@pass_settings
def upgrade(
    settings: Settings,
    name: str | None,
    rev: str,
    all_: bool,
    url: str | None,
    targets: options.TargetOptions,
    sql: bool,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Apply revisions of NAME up to REV (default: head), after verify passes.

    On a project that declares targets, name one (--env, --group, --target) or use
    --all; each target is locked on its own, and --jobs runs several at once."""
    from runner import commands

    if sql:  # Alembic's --sql: what would run, never connecting to change anything
        _plan(settings, name, all_, url, targets, "heads" if rev == "head" else rev, None, fmt,
              None)  # fmt: skip
        return
    if all_ and not name and rev != "head":
        raise ConfigError("upgrade --all takes no revision: every project goes to its head")
    write = _write_options(lock_timeout, transaction_per_revision)
    outcomes = _over_targets(
        settings, "upgrade", _names(name, all_, "upgrade"), url, _fleet(targets, all_),
        lambda penv, s: commands.upgrade(penv, rev, write.for_target(s.lock_timeout)), fmt,
        writing=True,
    )  # fmt: skip
    _raise_partial("upgrade", outcomes)


@cli.command()
@click.argument("name")
@click.option("-m", "--message", default=None, help="Message (default: the merged heads).")
@pass_settings
def merge(settings: Settings, name: str, message: str | None) -> None:
    """Create a revision that merges all heads of NAME into one."""
    from runner import authoring

    _emit("merge", [authoring.merge_heads(settings.env(name), message)], "text")


# ignore_unknown_options: so "-1" (one step down) is a REV, not an unknown option.
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("rev")
@options.URL
@options.target_options(writing=True)
@write_options
@output_format("text", "json")
@pass_settings
def downgrade(
    settings: Settings,
    name: str,
    rev: str,
    url: str | None,
    targets: options.TargetOptions,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Revert NAME to REV: a revision id, -1 (one step) or base, after verify passes."""
    from runner import commands

    write = _write_options(lock_timeout, transaction_per_revision)
    outcomes = _over_targets(
        settings, "downgrade", [name], url, _fleet(targets, False),
        lambda penv, s: commands.downgrade(penv, rev, write.for_target(s.lock_timeout)), fmt,
        writing=True,
    )  # fmt: skip
    _raise_partial("downgrade", outcomes)


@cli.command()
@click.argument("name", required=False)
@options.ALL
@options.URL
@options.target_options(writing=False)
@output_format("text", "json")
@pass_settings
def status(
    settings: Settings,
    name: str | None,
    all_: bool,
    url: str | None,
    targets: options.TargetOptions,
    fmt: str,
) -> None:
    """Current revision, heads and pending count of NAME (all projects without NAME).

    Over several projects or targets, one that cannot be read (unreachable database,
    broken revision file) is shown with its problem and the others still are; the
    exit code is then that of the first problem. With --group, a count of the fleet:
    how many at head, behind, awaiting repair, unreachable."""
    from runner import commands
    from runner.output import render

    def table(results: Sequence[Any], outcomes: Sequence[Outcome],
              _skipped: Sequence[tuple[str, str]]) -> str:  # fmt: skip
        if not outcomes:  # one target, named: its detail
            return "\n".join(render.text(r) for r in results)
        shown = render.status_table(results)
        if len(results) > 1 and any(r.target for r in results):
            unreachable = sum(1 for o in outcomes if o.exit_code == 3)
            shown += "\n" + render.status_counts(results, unreachable)
        return shown

    def unreadable(outcome: Outcome) -> Any:
        message = (outcome.error or "").split(": ", 1)[-1]
        result = commands.unreadable_status(outcome.project, None, message)
        target = None if outcome.target in ("default", "-") else outcome.target
        return dataclasses.replace(result, target=target)

    spec = _fleet(targets, all_)
    names = [name] if name else None
    outcomes = _over_targets(settings, "status", names, url, spec,
                             lambda penv, _s: commands.status(penv), fmt, writing=False,
                             text=table if name is None or spec.wants_summary or all_ else None,
                             unreadable=unreadable)  # fmt: skip
    failed = [o for o in outcomes if o.state == "failed"]
    if failed:
        what = "project(s)" if all(o.target in ("default", "-") for o in outcomes) else "target(s)"
        summary = RunnerError(f"status: {len(failed)} {what} could not be read")
        summary.exit_code = failed[0].exit_code
        raise summary
    troubled = [o.result for o in outcomes if o.result is not None and o.result.problem]
    if len(outcomes) == 1 and troubled:  # what makes a write refuse makes status fail too
        raise Refused(troubled[0].problem, project=render.who(troubled[0]))
    if troubled:
        raise Refused(f"status: a problem in {', '.join(render.who(r) for r in troubled)};"
                      " see above")  # fmt: skip


def _raise_first(verb: str, failures: Sequence[RunnerError]) -> None:
    """After listing every project: fail with the first problem's exit code, if any."""
    if failures:
        summary = RunnerError(f"{verb}: {len(failures)} project(s) could not be read")
        summary.exit_code = failures[0].exit_code
        raise summary


@cli.command()
@click.argument("name")
@options.URL
@click.option("--offline", is_flag=True, help="Do not ask the database which are applied.")
@output_format("text", "json")
@pass_settings
def history(settings: Settings, name: str, url: str | None, offline: bool, fmt: str) -> None:
    """Revisions of NAME, newest first; those the database has are marked with *."""
    from runner import commands

    _emit("history", [commands.history(settings.env(name, url), offline)], fmt)


@cli.command()
@click.argument("name")
@options.URL
@output_format("text", "json")
@pass_settings
def current(settings: Settings, name: str, url: str | None, fmt: str) -> None:
    """The revision(s) the database of NAME is at."""
    from runner import commands

    _emit("current", [commands.current(settings.env(name, url))], fmt)


@cli.command()
@click.argument("name")
@click.argument("rev")
@output_format("text", "json")
@pass_settings
def show(settings: Settings, name: str, rev: str, fmt: str) -> None:
    """One revision of NAME (an id, a unique prefix, head): parents, files, checksum."""
    from runner import commands

    _emit("show", [commands.show(settings.env(name), rev)], fmt)


@cli.command()
@click.argument("name")
@output_format("text", "json")
@pass_settings
def branches(settings: Settings, name: str, fmt: str) -> None:
    """Where the history of NAME forks (branch points)."""
    from runner import commands

    _emit("branches", [commands.branches(settings.env(name))], fmt)


@cli.command()
@click.argument("name")
@output_format("text", "json")
@pass_settings
def heads(settings: Settings, name: str, fmt: str) -> None:
    """Head revision(s) of NAME."""
    from runner import commands

    _emit("heads", [commands.heads(settings.env(name))], fmt)


@cli.command()
@click.argument("name")
@click.argument("revs", nargs=-1, required=True)
@click.option("--purge", is_flag=True, help="Empty the version table first.")
@options.URL
@options.target_options(writing=True)
@write_options
@output_format("text", "json")
@pass_settings
def stamp(
    settings: Settings,
    name: str,
    revs: tuple[str, ...],
    purge: bool,
    url: str | None,
    targets: options.TargetOptions,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Record REV(S) as current for NAME without running any migration."""
    from runner import commands

    write = _write_options(lock_timeout, transaction_per_revision)
    outcomes = _over_targets(
        settings, "stamp", [name], url, _fleet(targets, False),
        lambda penv, s: commands.stamp(penv, revs, purge=purge,
                                       options=write.for_target(s.lock_timeout)),
        fmt, writing=True,
    )  # fmt: skip
    _raise_partial("stamp", outcomes)


def _anchor(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    row_id, sep, row_hash = value.partition(":")
    if not (sep and row_id.isdigit() and row_hash):
        raise click.BadParameter("expected ID:HASH, as printed by: runner log NAME --head")
    return int(row_id), row_hash


@cli.command()
@click.argument("name", required=False)
@options.ALL
@options.URL
@options.target_options(writing=False)
@click.option(
    "--anchor", metavar="ID:HASH", callback=_anchor, default=None,
    help="A change-log row kept outside the database (runner log NAME --head): fail if it"
    " is gone or changed.",
)  # fmt: skip
@output_format("text", "json")
@pass_settings
def verify(
    settings: Settings,
    name: str | None,
    all_: bool,
    url: str | None,
    targets: options.TargetOptions,
    anchor: tuple[int, str] | None,
    fmt: str,
) -> None:
    """Check applied revisions against their recorded checksums, the change log against the
    version table and its own chain (exit 4 on a problem)."""
    from runner import commands

    outcomes = _over_targets(
        settings, "verify", _names(name, all_, "verify"), url, _fleet(targets, all_),
        lambda penv, _s: commands.verify_project(penv, anchor), fmt, writing=False,
        text=_texts_then_summary,
    )  # fmt: skip
    _raise_partial("verify", outcomes)
    bad = [o.result for o in outcomes if o.result is not None and not o.result.ok]
    if bad:
        from runner.output.render import who

        raise Refused(f"verify found problems in {', '.join(who(r) for r in bad)}")


def _texts_then_summary(results: Sequence[Any], outcomes: Sequence[Outcome],
                        skipped: Sequence[tuple[str, str]]) -> str:  # fmt: skip
    """Each result's own text; over several targets, the summary after them."""
    from runner.output import render

    shown = [render.text(r) for r in results]
    if outcomes:
        shown.append(render.summary_table(outcomes, skipped))
    return "\n".join(shown)


@cli.command()
@click.argument("name")
@options.URL
@options.target_options(writing=True)
@write_options
@output_format("text", "json")
@pass_settings
def repair(
    settings: Settings,
    name: str,
    url: str | None,
    targets: options.TargetOptions,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Re-record checksums of NAME's applied revisions and clear a failed state (logged)."""
    from runner import commands

    write = _write_options(lock_timeout, transaction_per_revision)
    outcomes = _over_targets(
        settings, "repair", [name], url, _fleet(targets, False),
        lambda penv, s: commands.repair(penv, write.for_target(s.lock_timeout)), fmt,
        writing=True,
    )  # fmt: skip
    _raise_partial("repair", outcomes)


@cli.command("log")
@click.argument("name")
@click.option("--revision", default=None, help="Only rows whose revision contains this.")
@click.option("--since", type=click.DateTime(), default=None, help="From this UTC time.")
@click.option("--until", type=click.DateTime(), default=None, help="Up to this UTC time.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N rows.")
@click.option(
    "--head", is_flag=True,
    help="Print only ID:HASH of the newest row, to keep outside the database (verify --anchor).",
)  # fmt: skip
@options.URL
@options.target_options(writing=False)
@output_format("text", "json")
@pass_settings
def log_(
    settings: Settings,
    name: str,
    revision: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int | None,
    head: bool,
    url: str | None,
    targets: options.TargetOptions,
    fmt: str,
) -> None:
    """The change log of NAME: every step run, newest first."""
    from runner import commands

    def newest(results: Sequence[Any], _outcomes: Sequence[Outcome],
               _skipped: Sequence[tuple[str, str]]) -> str:  # fmt: skip
        rows = [(r, r.entries[0]) for r in results if r.entries]
        if len(results) == 1:
            return f"{rows[0][1].id}:{rows[0][1].row_hash}" if rows else ""
        from runner.output.render import who

        return "\n".join(f"{who(r)} {e.id}:{e.row_hash}" for r, e in rows)

    outcomes = _over_targets(
        settings, "log", [name], url, _fleet(targets, False),
        lambda penv, _s: commands.change_history(penv, revision, since, until,
                                                 1 if head else limit),
        "text" if head else fmt, writing=False, text=newest if head else _texts_then_summary,
    )  # fmt: skip
    _raise_partial("log", outcomes)


@cli.command()
@click.argument("name", required=False)
@click.argument("rev", required=False, default="heads")
@options.ALL
@options.URL
@options.target_options(writing=False)
@click.option(
    "--down", "down_to", metavar="REV", default=None,
    help="The SQL a downgrade to REV (-1, an id, base) would run: a rollback, for review.",
)  # fmt: skip
@output_format("text", "json", "markdown")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Also save the plan to this file, for: runner apply FILE.",
)  # fmt: skip
@pass_settings
def plan(
    settings: Settings,
    name: str | None,
    rev: str,
    all_: bool,
    url: str | None,
    targets: options.TargetOptions,
    down_to: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """SQL the next upgrade of NAME would run, from the database's current revision up to
    REV (default: heads), with the lint findings of the pending revisions.

    On a project that declares targets, every target is planned unless some are
    named: a merge request shows what each database will run."""
    _plan(settings, name, all_, url, targets, rev, down_to, fmt, out)


def _plan(
    settings: Settings,
    name: str | None,
    all_: bool,
    url: str | None,
    targets: options.TargetOptions,
    rev: str,
    down_to: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    from runner import commands
    from runner.output import render
    from runner.run import planfile, provenance

    if down_to is not None and out is not None:
        raise ConfigError("plan --down is for review: only upgrade plans are saved for apply")
    if all_ and not name and rev != "heads":
        raise ConfigError("plan --all takes no revision: every project is planned to its heads")

    def work(penv: ProjectEnv, s: Any) -> Any:
        if down_to is not None:
            return commands.plan(penv, down_to, downgrade=True, sizes=s.sizes())
        return commands.plan(penv, rev, sizes=s.sizes())

    def shown(results: Sequence[Any], outcomes: Sequence[Outcome],
              skipped: Sequence[tuple[str, str]]) -> str:  # fmt: skip
        if fmt == "markdown":
            text = render.plan_markdown(results)
            failed = [o.error for o in outcomes if o.state == "failed"]
            return text + "".join(f"\n> ❌ not planned: {error}\n" for error in failed)
        return _texts_then_summary(results, outcomes, skipped)

    outcomes = _over_targets(settings, "plan", _names(name, all_, "plan"), url,
                             _fleet(targets, all_), work, fmt, writing=False,
                             text=shown)  # fmt: skip
    planned = [o.result for o in outcomes if o.result is not None]
    if out is not None and planned:
        planfile.write(out, [planfile.PlannedTarget.from_result(r, r.checksums) for r in planned],
                       provenance.read(os.environ, settings.root).git_commit)  # fmt: skip
        log.info("plan saved to %s (apply it with: runner apply %s)", out, out)
    _raise_partial("plan", outcomes)


@cli.command()
@click.argument("planfile_", metavar="PLANFILE", type=click.Path(dir_okay=False, path_type=Path))
@options.URL
@options.JOBS
@options.CONFIRM
@write_options
@output_format("text", "json")
@pass_settings
def apply(
    settings: Settings,
    planfile_: Path,
    url: str | None,
    jobs: int,
    confirm: tuple[str, ...],
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Apply a saved plan exactly: refuse (exit 4) if a revision, the heads, the SQL or
    the database moved since it was made. Each target of the plan on its own."""
    from runner import commands, fanout
    from runner.project import targets as declared
    from runner.run import planfile

    write = _write_options(lock_timeout, transaction_per_revision)
    confirmed = declared.confirmations(confirm, os.environ)
    entries = planfile.read(planfile_)
    plans = []
    for entry in entries:  # each entry names its project and target: reach exactly that one
        chosen = declared.Choice(patterns=(entry.target,)) if entry.target else declared.Choice()
        spec = fanout.Fleet(chosen, jobs, confirmed=confirmed)

        def work(penv: ProjectEnv, s: Any, entry: Any = entry) -> Any:
            return commands.apply_plan(penv, entry, write.for_target(s.lock_timeout))

        plans.append(fanout.items(settings.root, [entry.project], url, spec, work, writing=True))
    plan_ = fanout.Plan([i for p in plans for i in p.items], [])
    spec = fanout.Fleet(declared.Choice(), jobs)
    if len(plan_.items) == 1:
        item = plan_.items[0]
        try:
            result = item.work()
        except RunnerError as exc:
            if exc.project in (None, item.project):
                exc.project = item.label
            raise
        _emit("apply", [result], fmt)
        return
    outcomes = fanout.run(plan_, spec, writing=True, on_done=_said(len(plan_.items)))
    from runner.output import render

    _emitted.append("apply")
    results = [o.result for o in outcomes if o.result is not None]
    if fmt == "json":
        click.echo(render.to_json("apply", results, summary=render.fleet_summary(outcomes)))
    else:
        click.echo(redact.scrub(render.summary_table(outcomes)))
    _raise_partial("apply", outcomes)


@cli.command()
@click.argument("name")
@click.option(
    "-m", "--message", default="baseline: the schema as adopted", show_default=True,
    help="The baseline revision's message.",
)  # fmt: skip
@click.option("--sql", is_flag=True, help="Write the baseline as paired .upgrade/.downgrade.sql.")
@click.option(
    "--include", multiple=True, metavar="PATTERN",
    help="Only objects whose name matches (shell pattern; repeatable; adds to targets.toml's).",
)  # fmt: skip
@click.option(
    "--exclude", multiple=True, metavar="PATTERN",
    help="Leave out objects whose name matches (repeatable; adds to targets.toml's).",
)  # fmt: skip
@options.URL
@options.target_options(writing=True)
@write_options
@output_format("text", "json")
@pass_settings
def adopt(
    settings: Settings,
    name: str,
    message: str,
    sql: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    url: str | None,
    targets: options.TargetOptions,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Capture the live database of NAME as its baseline revision, then stamp the database
    at it: its objects are not changed (the runner's version and log tables are added)."""
    from runner.adopt import results, verbs

    if targets.group:
        raise ConfigError("adopt: one database at a time: name it with --env or --target")
    write = _write_options(lock_timeout, transaction_per_revision)
    outcomes = _over_targets(
        settings, "adopt", [name], url, _fleet(targets, False),
        lambda penv, s: verbs.adopt(penv, message, sql=sql, include=include, exclude=exclude,
                                    options=write.for_target(s.lock_timeout)),
        fmt, writing=True, text=lambda rs, _o, _s: "\n".join(results.adopt_text(r) for r in rs),
    )  # fmt: skip
    _raise_partial("adopt", outcomes)


@cli.command()
@click.argument("name", required=False)
@options.ALL
@options.URL
@options.target_options(writing=False)
@click.option(
    "--quick", is_flag=True,
    help="Compare the schema's fingerprint with the last one recorded (one query); only on a"
    " mismatch build a replica to name the objects.",
)  # fmt: skip
@click.option(
    "--server-url", metavar="URL", default=None,
    help="Admin URL of the server for the throw-away replica (default: RUNNER_TEST_POSTGRES_URL"
    " / RUNNER_TEST_MYSQL_URL, else testcontainers).",
)  # fmt: skip
@output_format("text", "json", "codeclimate")
@pass_settings
def drift(
    settings: Settings,
    name: str | None,
    all_: bool,
    url: str | None,
    targets: options.TargetOptions,
    quick: bool,
    server_url: str | None,
    fmt: str,
) -> None:
    """Objects added, removed or altered outside the migrations: each target's schema
    against a replica of its revisions on a throw-away database (exit 7 on drift)."""
    from runner.adopt import report, results, verbs
    from runner.errors import DriftFound
    from runner.output import junit

    spec = _fleet(targets, all_)
    junit_path, spec = spec.junit, dataclasses.replace(spec, junit=None)

    def shown(rs: Sequence[Any], outcomes: Sequence[Outcome],
              skipped: Sequence[tuple[str, str]]) -> str:  # fmt: skip
        if fmt == "codeclimate":
            return report.codeclimate(rs, settings.root)
        text = results.drift_text(rs)
        if outcomes:
            from runner.output import render

            text += "\n" + render.summary_table(outcomes, skipped)
        return text

    outcomes = _over_targets(
        settings, "drift", _names(name, all_, "drift"), url, spec,
        lambda penv, _s: verbs.drift(penv, quick=quick, server_url=server_url),
        "text" if fmt == "codeclimate" else fmt, writing=False, text=shown,
    )  # fmt: skip
    found = [o.result for o in outcomes if o.result is not None]
    if junit_path is not None:
        junit.write(junit_path, "runner drift", report.junit_suites(found))
    _raise_partial("drift", outcomes)
    drifted = [r for r in found if r.drifted]
    if drifted:
        labels = ", ".join(results.who(r) for r in drifted)
        raise DriftFound(f"drift: {len(drifted)} of {len(found)} target(s) changed outside the"
                         f" migrations: {labels}")  # fmt: skip


@cli.command("diff")
@click.argument("name")
@click.option("--from", "source", required=True, metavar="TARGET", help="The schema expected.")
@click.option("--to", "destination", required=True, metavar="TARGET", help="The one compared.")
@output_format("text", "json")
@pass_settings
def diff_(settings: Settings, name: str, source: str, destination: str, fmt: str) -> None:
    """Schema differences between two targets of NAME (e.g. --from staging --to prod):
    objects only one has, and what differs in the others (exit 7 when they differ)."""
    from runner import fanout
    from runner.adopt import results, verbs
    from runner.errors import DriftFound
    from runner.project import targets as declared

    def one(target: str) -> Any:
        spec = fanout.Fleet(declared.Choice(patterns=(target,)))
        # A tuple: a dataclass result would be re-labelled with its target's name.
        plan = fanout.items(settings.root, [name], None, spec, lambda penv, _s: (penv,),
                            writing=False)  # fmt: skip
        if len(plan.items) != 1:
            raise ConfigError(f"diff: {target!r} names {len(plan.items)} targets of {name};"
                              " name exactly one (an environment or GROUP/MEMBER)")  # fmt: skip
        return plan.items[0].work()[0]

    result = verbs.diff(one(source), one(destination), source, destination)
    _emit("diff", [result], fmt, lambda rs, _o, _s: results.diff_text(rs[0]))
    if not result.same:
        raise DriftFound(f"diff: {name}: {len(result.changes)} object(s) differ from {source}"
                         f" to {destination}")  # fmt: skip


@cli.command("test")
@click.argument("name", required=False)
@options.ALL
@options.DB
@click.option(
    "--server-url",
    metavar="URL",
    default=None,
    help="Admin URL of the server to create the throw-away database on"
    " (default: RUNNER_TEST_POSTGRES_URL / RUNNER_TEST_MYSQL_URL, else testcontainers).",
)
@options.JUNIT
@output_format("text", "json")
@pass_settings
def test_(
    settings: Settings,
    name: str | None,
    all_: bool,
    backend: str | None,
    server_url: str | None,
    junit_file: Path | None,
    fmt: str,
) -> None:
    """Round-trip every revision of NAME on a throw-away database: up, down, compare, up."""
    from runner.errors import RoundTripFailed
    from runner.output import junit  # only the verbs with per-item verdicts pay for XML
    from runner.project import targets as declared
    from runner.roundtrip import walk

    # "sqlite://" only stands in for the project's own URL, which a test never uses
    # (and must not fail on): each project is re-pointed at its throw-away database.
    envs = settings.envs(name, all_, "sqlite://", "test")
    # Each project on its own dialect (--db, else the one its targets file declares):
    # one throw-away server per dialect, the results in the projects' order.
    kinds = [backend or declared.load(e.project).dialect or "sqlite" for e in envs]
    by_kind: dict[str, list[Any]] = {}
    for kind in dict.fromkeys(kinds):
        chosen = [e for e, k in zip(envs, kinds, strict=True) if k == kind]
        by_kind[kind] = walk.run_tests(chosen, kind, server_url)
    results = [by_kind[k].pop(0) for k in kinds]
    if junit_file is not None:
        junit.write(junit_file, "runner test", walk.junit_suites(results))
    _emit("test", results, fmt)
    failed = [r.project for r in results if not r.passed]
    if failed:
        raise RoundTripFailed(f"round trip failed for {', '.join(failed)}")


@cli.command("lint")
@click.argument("name", required=False)
@options.ALL
@options.URL
@options.DIALECT
@options.JUNIT
@options.FAIL_ON
@output_format("text", "json", "codeclimate", "sarif")
@pass_settings
def lint_(
    settings: Settings,
    name: str | None,
    all_: bool,
    url: str | None,
    dialect: str | None,
    junit_file: Path | None,
    fail_on: str,
    fmt: str,
) -> None:
    """Check NAME's history and upgrade SQL for risky changes (offline, no database)."""
    from runner.lint import pipeline
    from runner.output import junit
    from runner.project import targets as declared

    def dialect_of(penv: ProjectEnv) -> str | None:
        """--dialect, else the declared one (unless --url names the database)."""
        return dialect or (declared.load(penv.project).dialect if url is None else None)

    results = [pipeline.lint(e, dialect_of(e)) for e in settings.envs(name, all_, url, "lint")]
    if junit_file is not None:
        junit.write(junit_file, "runner lint", pipeline.junit_suites(results))
    if fmt in ("codeclimate", "sarif"):
        from runner.output import codeclimate, sarif

        _emitted.append("lint")
        report = (
            codeclimate.report(results)
            if fmt == "codeclimate"
            else sarif.report(results, pipeline.sarif_rules())
        )
        click.echo(redact.scrub(report))
    else:
        _emit("lint", results, fmt)
    pipeline.raise_if_failed(results, fail_on)


@cli.group("ci")
def ci() -> None:
    """Pipelines: the projects a change touches, the GitLab child pipeline, MR notes."""


_SINCE = click.option(
    "--since", metavar="REF", default=None,
    help="Compare HEAD with its merge base with REF (default: CI_MERGE_REQUEST_DIFF_BASE_SHA,"
    " or origin/$CHANGE_TARGET on Jenkins; none or empty: every project).",
)  # fmt: skip


@ci.command("changed")
@_SINCE
@output_format("text", "json")
@pass_settings
def ci_changed(settings: Settings, since: str | None, fmt: str) -> None:
    """The projects a change touches, one per line (why on stderr); --json adds each
    one's dialect and deploys (environments, groups) in promotion order."""
    from runner.ci import report

    text, reason = report.changed(settings.root, since, os.environ, fmt == "json")
    log.info("ci changed: %s", reason)
    _emitted.append("ci changed")
    if text:
        click.echo(text)


@ci.command("gitlab")
@_SINCE
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write the child pipeline to this file (default: stdout).",
)  # fmt: skip
@click.option(
    "--services/--no-services", default=True, envvar="RUNNER_CI_SERVICES", show_default=True,
    help="A database service per test job; --no-services (RUNNER_CI_SERVICES=false) for"
    " gitlab-ci-local's shell executor: the test servers come from RUNNER_TEST_*_URL.",
)  # fmt: skip
@pass_settings
def ci_gitlab(settings: Settings, since: str | None, out: Path | None, services: bool) -> None:
    """Write the GitLab child pipeline for the projects a change touches."""
    from runner.ci import report

    text, reason = report.gitlab(settings.root, since, os.environ, services)
    log.info("ci gitlab: %s", reason)
    _emitted.append("ci gitlab")
    if out is None:
        click.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        log.info("child pipeline written to %s", out)


@ci.command("gitlab-note")
@click.argument("name")
@click.option(
    "--plan", "plan_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The plan as markdown (runner plan NAME --format markdown).",
)  # fmt: skip
@pass_settings
def ci_gitlab_note(settings: Settings, name: str, plan_file: Path) -> None:
    """Post NAME's plan to the merge request as one note, updated on every pipeline
    (needs RUNNER_GITLAB_TOKEN with the api scope; without it: says so, exit 0)."""
    from runner.ci import note
    from runner.project import repository

    repository.Project.at(settings.root, name)  # an unknown project is an error
    try:
        text = plan_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {plan_file}: {exc.strerror}", project=name) from exc
    log.info("%s", note.post(name, text, os.environ).message)


# --- entry point -------------------------------------------------------------


class _Formatter(logging.Formatter):
    """The message alone; a warning says it is one (``warning: <project>: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return f"warning: {message}" if record.levelno >= logging.WARNING else message


def _configure_logging() -> None:
    # The runner says what each step did when it is done (runner.run.write); Alembic's
    # own progress ("Running upgrade ...", the DDL mode) would say it a second time.
    # On a terminal, Alembic's "Running" records feed the progress line instead.
    alembic_level = logging.WARNING
    handler: logging.Handler
    if sys.stderr.isatty() and os.environ.get("RUNNER_PROGRESS", "1") != "0":
        from runner.output import progress

        handler = progress.TerminalHandler(sys.stderr)
        progress.install(handler)
        alembic_level = logging.INFO
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    handler.addFilter(redact.ScrubFilter())
    # testcontainers (runner test's throw-away servers) has no handler of its own: its
    # warnings would reach stderr through logging's last resort, unscrubbed.
    loggers = (
        ("runner", logging.INFO),
        ("alembic.runtime.migration", alembic_level),
        ("testcontainers", logging.WARNING),
    )
    for name, level in loggers:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def _usage_error(exc: click.ClickException) -> str:
    """A click usage error as one line, naming the verb whose help explains it."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        return f"{message} (see: {ctx.command_path} --help)"
    return message


def _terminate(_signum: int, _frame: object) -> None:
    raise Terminated


# Allocations between two collections of the youngest generation when the runner owns
# the process (CPython's default is 700). See main().
_GC_YOUNG_THRESHOLD = 50_000


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the CLI and exit with a documented code.

    Without ``argv`` the process is the runner's (the ``runner`` script, ``python -m
    runner``), and the cyclic garbage collector runs less often: a run builds many
    objects that live until it ends (revision modules, SQLAlchemy constructs, sqlglot
    and AST trees) and little cyclic garbage, and with the default threshold the
    collector traversed them again and again, about a tenth of a 1000-revision lint,
    plan or upgrade (benchmarks/bench_speed.py). A program that calls ``main(args)``
    keeps its own settings.
    """
    if argv is None:
        gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    if threading.current_thread() is not threading.main_thread():
        _main(argv)  # only the main thread may handle signals
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> None:
    _configure_logging()
    _emitted.clear()
    args = list(sys.argv[1:] if argv is None else argv)
    # Known before parsing (a usage error can happen before --debug is parsed): the
    # option itself, given anywhere, or its variable, as click would read it.
    debug = "--debug" in args or os.environ.get("RUNNER_DEBUG", "") not in {"", "0", "false"}
    try:
        try:
            cli.main(args=args, prog_name="runner", standalone_mode=False)
        finally:  # erase a progress line before any last words
            progress = sys.modules.get("runner.output.progress")
            if progress is not None:
                progress.stop()
    except click.exceptions.NoArgsIsHelpError as exc:  # plain `runner`: the help is the answer
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        click.echo(f"error: {redact.scrub(_usage_error(exc))}", err=True)
        sys.exit(EXIT_USAGE)
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        click.echo("terminated (SIGTERM): stopped and cleaned up", err=True)
        sys.exit(EXIT_TERMINATED)
    except RunnerError as exc:
        if debug:
            click.echo(redact.scrub(traceback.format_exc()), err=True)
        click.echo(f"error: {redact.scrub(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except PermissionError as exc:  # the environment, not a bug: say what to change
        if debug:
            click.echo(redact.scrub(traceback.format_exc()), err=True)
        where = exc.filename or "a file"
        click.echo(
            f"error: no permission to write or read {where} as uid {os.getuid()}: check its"
            " owner and mode (in the Docker image, run as the owner of your files:"
            ' --user "$(id -u):$(id -g)")',
            err=True,
        )
        sys.exit(EXIT_USAGE)
    except Exception as exc:  # a bug: say so briefly, details with --debug
        if debug:
            click.echo(redact.scrub(traceback.format_exc()), err=True)
        click.echo(
            f"internal error: {type(exc).__name__}: {redact.scrub(str(exc))}"
            " (rerun with --debug for a traceback)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)
