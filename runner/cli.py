"""Command-line interface: parse arguments, call :mod:`runner.commands`, render.

This module is deliberately thin: each verb parses its options, calls one
plain function and renders what it returns. It owns the one ``except
RunnerError`` of the program (in :func:`main`), which prints a single
``error:`` line and exits with the error's code. What a verb needs is
imported inside it, so ``runner --help`` loads neither SQLAlchemy nor Alembic.
"""

from __future__ import annotations

import datetime as dt
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
    Refused,
    RunnerError,
    Terminated,
)
from runner.options import output_format, write_options
from runner.output import redact

if TYPE_CHECKING:
    from runner.project.environment import ProjectEnv
    from runner.project.repository import Project
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
    from runner.run.write import WriteOptions

    return WriteOptions(lock_timeout=lock_timeout, per_revision=transaction_per_revision)


def _emit(command: str, results: Sequence[Any], fmt: str) -> None:
    from runner.output import render

    _emitted.append(command)
    if fmt == "json":
        click.echo(render.to_json(command, results))
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
@pass_settings
def new(settings: Settings, name: str) -> None:
    """Create projects/NAME as a new Alembic environment with its own version table."""
    from runner import authoring

    _emit("new", [authoring.new_project(settings.root, name)], "text")


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
    sql: bool,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Apply revisions of NAME up to REV (default: head), after verify passes."""
    from runner import commands

    if sql:  # Alembic's --sql: what would run, never connecting to change anything
        _plan(settings, name, all_, url, "heads" if rev == "head" else rev, None, fmt, None)
        return

    if all_ and rev != "head":
        raise ConfigError("upgrade --all takes no revision: every project goes to its head")
    write = _write_options(lock_timeout, transaction_per_revision)
    _run_each(
        "upgrade",
        settings.envs(name, all_, url, "upgrade"),
        lambda e: commands.upgrade(e, rev, write),
        fmt,
    )


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
@write_options
@output_format("text", "json")
@pass_settings
def downgrade(
    settings: Settings,
    name: str,
    rev: str,
    url: str | None,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Revert NAME to REV: a revision id, -1 (one step) or base, after verify passes."""
    from runner import commands

    write = _write_options(lock_timeout, transaction_per_revision)
    _emit("downgrade", [commands.downgrade(settings.env(name, url), rev, write)], fmt)


@cli.command()
@click.argument("name", required=False)
@options.URL
@output_format("text", "json")
@pass_settings
def status(settings: Settings, name: str | None, url: str | None, fmt: str) -> None:
    """Current revision, heads and pending count of NAME (all projects without NAME).

    Over all projects, one that cannot be read (unreachable database, broken
    revision file) is shown with its problem and the others still are; the exit
    code is then that of the first problem."""
    from runner import commands

    if name:
        result = commands.status(settings.env(name, url))
        _emit("status", [result], fmt)
        if result.problem:  # what makes a write refuse makes status fail too
            raise Refused(result.problem, project=name)
        return
    results, failures = [], []
    for project, loaded in settings.each(url):
        try:
            if isinstance(loaded, RunnerError):
                raise loaded
            results.append(commands.status(loaded))
        except RunnerError as exc:
            failures.append(exc)
            target = None if isinstance(loaded, RunnerError) else loaded.target
            results.append(commands.unreadable_status(project.name, target, exc.message))
    if fmt == "json":
        _emit("status", results, fmt)
    else:  # all projects at a glance: one row each
        from runner.output import render

        click.echo(redact.scrub(render.status_table(results)))
    _raise_first("status", failures)
    troubled = [r.project for r in results if r.problem]
    if troubled:
        raise Refused(f"status: a problem in {', '.join(troubled)}; see above")


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
@write_options
@output_format("text", "json")
@pass_settings
def stamp(
    settings: Settings,
    name: str,
    revs: tuple[str, ...],
    purge: bool,
    url: str | None,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Record REV(S) as current for NAME without running any migration."""
    from runner import commands

    write = _write_options(lock_timeout, transaction_per_revision)
    result = commands.stamp(settings.env(name, url), revs, purge=purge, options=write)
    _emit("stamp", [result], fmt)


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
    anchor: tuple[int, str] | None,
    fmt: str,
) -> None:
    """Check applied revisions against their recorded checksums, the change log against the
    version table and its own chain (exit 4 on a problem)."""
    from runner import commands

    results = []

    def check(penv: ProjectEnv) -> Any:
        results.append(commands.verify_project(penv, anchor))
        return results[-1]

    _run_each("verify", settings.envs(name, all_, url, "verify"), check, fmt)
    bad = [r.project for r in results if not r.ok]
    if bad:
        raise Refused(f"verify found problems in {', '.join(bad)}")


@cli.command()
@click.argument("name")
@options.URL
@write_options
@output_format("text", "json")
@pass_settings
def repair(
    settings: Settings,
    name: str,
    url: str | None,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Re-record checksums of NAME's applied revisions and clear a failed state (logged)."""
    from runner import commands

    write = _write_options(lock_timeout, transaction_per_revision)
    _emit("repair", [commands.repair(settings.env(name, url), write)], fmt)


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
    fmt: str,
) -> None:
    """The change log of NAME: every step run, newest first."""
    from runner import commands

    if head:
        newest = commands.change_history(settings.env(name, url), limit=1).entries
        click.echo(f"{newest[0].id}:{newest[0].row_hash}" if newest else "")
        return
    result = commands.change_history(settings.env(name, url), revision, since, until, limit)
    _emit("log", [result], fmt)


@cli.command()
@click.argument("name", required=False)
@click.argument("rev", required=False, default="heads")
@options.ALL
@options.URL
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
    down_to: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """SQL the next upgrade of NAME would run, from the database's current revision up to
    REV (default: heads), with the lint findings of the pending revisions."""
    _plan(settings, name, all_, url, rev, down_to, fmt, out)


def _plan(
    settings: Settings,
    name: str | None,
    all_: bool,
    url: str | None,
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
    if all_ and rev != "heads":
        raise ConfigError("plan --all takes no revision: every project is planned to its heads")
    envs = settings.envs(name, all_, url, "plan")
    if down_to is not None:
        results = [commands.plan(penv, down_to, downgrade=True) for penv in envs]
    else:
        results = [commands.plan(penv, rev) for penv in envs]
    if out is not None:
        planfile.write(out, [planfile.PlannedTarget.from_result(r, r.checksums) for r in results],
                       provenance.read(os.environ, settings.root).git_commit)  # fmt: skip
        log.info("plan saved to %s (apply it with: runner apply %s)", out, out)
    if fmt == "markdown":
        click.echo(render.plan_markdown(results))
    else:
        _emit("plan", results, fmt)


@cli.command()
@click.argument("planfile_", metavar="PLANFILE", type=click.Path(dir_okay=False, path_type=Path))
@options.URL
@write_options
@output_format("text", "json")
@pass_settings
def apply(
    settings: Settings,
    planfile_: Path,
    url: str | None,
    fmt: str,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Apply a saved plan exactly: refuse (exit 4) if a revision, the heads, the SQL or
    the database moved since it was made."""
    from runner import commands
    from runner.run import planfile

    write = _write_options(lock_timeout, transaction_per_revision)
    planned = {t.project: t for t in planfile.read(planfile_)}
    envs = [settings.env(project, url) for project in planned]
    _run_each("apply", envs, lambda e: commands.apply_plan(e, planned[e.name], write), fmt)


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
    backend: str,
    server_url: str | None,
    junit_file: Path | None,
    fmt: str,
) -> None:
    """Round-trip every revision of NAME on a throw-away database: up, down, compare, up."""
    from runner.errors import RoundTripFailed
    from runner.output import junit  # only the verbs with per-item verdicts pay for XML
    from runner.roundtrip import walk

    # "sqlite://" only stands in for the project's own URL, which a test never uses
    # (and must not fail on): each project is re-pointed at its throw-away database.
    envs = settings.envs(name, all_, "sqlite://", "test")
    results = walk.run_tests(envs, backend, server_url)
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
@output_format("text", "json")
@pass_settings
def lint_(
    settings: Settings,
    name: str | None,
    all_: bool,
    url: str | None,
    dialect: str | None,
    junit_file: Path | None,
    fmt: str,
) -> None:
    """Check NAME's history and upgrade SQL for risky changes (offline, no database)."""
    from runner.lint import pipeline
    from runner.output import junit

    results = [pipeline.lint(e, dialect) for e in settings.envs(name, all_, url, "lint")]
    if junit_file is not None:
        junit.write(junit_file, "runner lint", pipeline.junit_suites(results))
    _emit("lint", results, fmt)
    pipeline.raise_if_failed(results)


def _run_each(
    verb: str, envs: Sequence[ProjectEnv], fn: Callable[[ProjectEnv], Any], fmt: str
) -> None:
    """Run ``fn`` per project; print what succeeded even when a later one fails."""
    results: list[Any] = []
    try:
        for penv in envs:
            results.append(fn(penv))
    finally:
        if results:
            _emit(verb, results, fmt)


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


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the CLI and exit with a documented code."""
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
