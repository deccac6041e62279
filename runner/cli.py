"""Command-line interface: parse arguments, call :mod:`runner.commands`, render.

This module is deliberately thin. It owns the one ``except RunnerError`` of the
program (in :func:`main`), which prints a single ``error:`` line and exits with
the error's code; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from runner import (
    __version__,
    authoring,
    commands,
    locking,
    planfile,
    projects,
    provenance,
    redact,
    report,
    scratch,
    targets,
)
from runner.environment import ProjectEnv
from runner.errors import EXIT_INTERRUPTED, EXIT_USAGE, ConfigError, Refused, RunnerError
from runner.migrate import WriteOptions
from runner.results import VerifyResult

log = logging.getLogger("runner")


@dataclass
class Settings:
    """Options shared by every verb (from the group and the environment)."""

    root: Path
    debug: bool

    def env(self, name: str, url: str | None = None) -> ProjectEnv:
        """Load project ``name`` pointed at its resolved target."""
        project = projects.Project.at(self.root, name)
        return ProjectEnv.load(project, targets.resolve(project, self.root, os.environ, url))

    def envs(self, name: str | None, all_: bool, url: str | None, verb: str) -> list[ProjectEnv]:
        """One project, or every project with ``--all``; exactly one of the two."""
        if name and all_:
            raise ConfigError(f"{verb}: give a project name or --all, not both")
        if all_:
            return [
                ProjectEnv.load(p, targets.resolve(p, self.root, os.environ, url))
                for p in projects.discover(self.root)
            ]
        if not name:
            raise ConfigError(f"{verb}: missing project name (or --all)")
        return [self.env(name, url)]


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (see README).")
url_option = click.option(
    "--url",
    envvar=None,
    metavar="URL",
    help="Database URL for this run (overrides <NAME>_DATABASE_URL and alembic.ini).",
)
all_option = click.option("--all", "all_", is_flag=True, help="Every project under projects/.")
junit_option = click.option(
    "--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Also write JUnit XML (one testsuite per project, one testcase per revision).",
)  # fmt: skip


def write_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--lock-timeout and --transaction-per-revision, shared by every writing verb."""
    command = click.option(
        "--lock-timeout", type=click.FloatRange(min=0), default=locking.DEFAULT_TIMEOUT,
        show_default=True, envvar="RUNNER_LOCK_TIMEOUT", metavar="SECONDS",
        help="How long to wait for another run's lock (env RUNNER_LOCK_TIMEOUT).",
    )(command)  # fmt: skip
    return click.option(
        "--transaction-per-revision", is_flag=True,
        help="Commit after each revision instead of once for the whole run.",
    )(command)  # fmt: skip


def _options(lock_timeout: float, transaction_per_revision: bool) -> WriteOptions:
    return WriteOptions(lock_timeout=lock_timeout, per_revision=transaction_per_revision)


def _emit(command: str, results: Sequence[Any], as_json: bool) -> None:
    if as_json:
        click.echo(report.to_json(command, results))
    else:
        click.echo(redact.scrub("\n".join(report.text(r) for r in results)))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="RUNNER_ROOT",
    default=".",
    show_default=True,
    help="Repository root holding projects/ and var/ (env RUNNER_ROOT).",
)
@click.option("--debug", is_flag=True, envvar="RUNNER_DEBUG", help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="runner")
@click.pass_context
def cli(ctx: click.Context, root: Path, debug: bool) -> None:
    """Database change control: drive the Alembic projects under projects/."""
    ctx.obj = Settings(root=root.resolve(), debug=debug)


pass_settings = click.make_pass_decorator(Settings)


@cli.command("list")
@json_option
@pass_settings
def list_(settings: Settings, as_json: bool) -> None:
    """List projects, their heads and database URLs (no database access)."""
    envs = settings.envs(None, True, None, "list")
    _emit("list", [commands.describe_project(e) for e in envs], as_json)


@cli.command()
@click.argument("name")
@pass_settings
def new(settings: Settings, name: str) -> None:
    """Create projects/NAME as a new Alembic environment with its own version table."""
    _emit("new", [authoring.new_project(settings.root, name)], False)


@cli.command()
@click.argument("name")
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--sql", is_flag=True, help="Write paired .upgrade.sql/.downgrade.sql files.")
@click.option("--head", default="head", show_default=True, help="Revision to build on.")
@click.option("--branch-label", default=None, help="Start a named branch.")
@click.option("--depends-on", default=None, help="Revision this one depends on.")
@pass_settings
def revision(
    settings: Settings,
    name: str,
    message: str,
    sql: bool,
    head: str,
    branch_label: str | None,
    depends_on: str | None,
) -> None:
    """Create a new revision file in projects/NAME/versions."""
    result = authoring.new_revision(
        settings.env(name),
        message,
        sql=sql,
        head=head,
        branch_label=branch_label,
        depends_on=depends_on,
    )
    _emit("revision", [result], False)


@cli.command()
@click.argument("name", required=False)
@click.argument("rev", required=False, default="head")
@all_option
@url_option
@write_options
@json_option
@pass_settings
def upgrade(
    settings: Settings,
    name: str | None,
    rev: str,
    all_: bool,
    url: str | None,
    as_json: bool,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Apply revisions of NAME up to REV (default: head), after verify passes."""
    if all_ and rev != "head":
        raise ConfigError("upgrade --all takes no revision: every project goes to its head")
    options = _options(lock_timeout, transaction_per_revision)
    _run_each(
        "upgrade",
        settings.envs(name, all_, url, "upgrade"),
        lambda e: commands.upgrade(e, rev, options),
        as_json,
    )


@cli.command()
@click.argument("name")
@click.option("-m", "--message", default=None, help="Message (default: the merged heads).")
@pass_settings
def merge(settings: Settings, name: str, message: str | None) -> None:
    """Create a revision that merges all heads of NAME into one."""
    _emit("merge", [authoring.merge_heads(settings.env(name), message)], False)


# ignore_unknown_options: so "-1" (one step down) is a REV, not an unknown option.
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("rev")
@url_option
@write_options
@json_option
@pass_settings
def downgrade(
    settings: Settings,
    name: str,
    rev: str,
    url: str | None,
    as_json: bool,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Revert NAME to REV: a revision id, -1 (one step) or base, after verify passes."""
    options = _options(lock_timeout, transaction_per_revision)
    _emit("downgrade", [commands.downgrade(settings.env(name, url), rev, options)], as_json)


@cli.command()
@click.argument("name", required=False)
@url_option
@json_option
@pass_settings
def status(settings: Settings, name: str | None, url: str | None, as_json: bool) -> None:
    """Current revision, heads and pending count of NAME (all projects without NAME).

    Over all projects, one that cannot be read (unreachable database, broken
    revision file) is shown with its problem and the others still are; the exit
    code is then that of the first problem."""
    if name:
        _emit("status", [commands.status(settings.env(name, url))], as_json)
        return
    results, failures = [], []
    for penv in settings.envs(None, True, url, "status"):
        try:
            results.append(commands.status(penv))
        except RunnerError as exc:
            failures.append(exc)
            results.append(commands.unreadable_status(penv, str(exc)))
    _emit("status", results, as_json)
    if failures:
        summary = RunnerError(f"status: {len(failures)} project(s) could not be read")
        summary.exit_code = failures[0].exit_code
        raise summary


@cli.command()
@click.argument("name")
@json_option
@pass_settings
def history(settings: Settings, name: str, as_json: bool) -> None:
    """Revisions of NAME, newest first."""
    _emit("history", [commands.history(settings.env(name))], as_json)


@cli.command()
@click.argument("name")
@json_option
@pass_settings
def heads(settings: Settings, name: str, as_json: bool) -> None:
    """Head revision(s) of NAME."""
    _emit("heads", [commands.heads(settings.env(name))], as_json)


@cli.command()
@click.argument("name")
@click.argument("revs", nargs=-1, required=True)
@click.option("--purge", is_flag=True, help="Empty the version table first.")
@url_option
@write_options
@json_option
@pass_settings
def stamp(
    settings: Settings,
    name: str,
    revs: tuple[str, ...],
    purge: bool,
    url: str | None,
    as_json: bool,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Record REV(S) as current for NAME without running any migration."""
    options = _options(lock_timeout, transaction_per_revision)
    result = commands.stamp(settings.env(name, url), revs, purge=purge, options=options)
    _emit("stamp", [result], as_json)


@cli.command()
@click.argument("name", required=False)
@all_option
@url_option
@json_option
@pass_settings
def verify(
    settings: Settings, name: str | None, all_: bool, url: str | None, as_json: bool
) -> None:
    """Check applied revisions against their recorded checksums (exit 4 on a problem)."""
    results: list[VerifyResult] = []

    def check(penv: ProjectEnv) -> VerifyResult:
        results.append(commands.verify_project(penv))
        return results[-1]

    _run_each("verify", settings.envs(name, all_, url, "verify"), check, as_json)
    bad = [r.project for r in results if not r.ok]
    if bad:
        raise Refused(f"verify found problems in {', '.join(bad)}")


@cli.command()
@click.argument("name")
@url_option
@write_options
@json_option
@pass_settings
def repair(
    settings: Settings,
    name: str,
    url: str | None,
    as_json: bool,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Re-record checksums of NAME's applied revisions and clear a failed state (logged)."""
    options = _options(lock_timeout, transaction_per_revision)
    _emit("repair", [commands.repair(settings.env(name, url), options)], as_json)


@cli.command("log")
@click.argument("name")
@click.option("--revision", default=None, help="Only rows whose revision contains this.")
@click.option("--since", type=click.DateTime(), default=None, help="From this UTC time.")
@click.option("--until", type=click.DateTime(), default=None, help="Up to this UTC time.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N rows.")
@url_option
@json_option
@pass_settings
def log_(
    settings: Settings,
    name: str,
    revision: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int | None,
    url: str | None,
    as_json: bool,
) -> None:
    """The change log of NAME: every step run, newest first."""
    result = commands.change_history(settings.env(name, url), revision, since, until, limit)
    _emit("log", [result], as_json)


@cli.command()
@click.argument("name", required=False)
@all_option
@url_option
@json_option
@click.option(
    "--format", "format_", type=click.Choice(["text", "json", "markdown"]), default="text",
    show_default=True, help="markdown: a merge-request comment (--json is --format json).",
)  # fmt: skip
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Also save the plan to this file, for: runner apply FILE.",
)  # fmt: skip
@pass_settings
def plan(
    settings: Settings,
    name: str | None,
    all_: bool,
    url: str | None,
    as_json: bool,
    format_: str,
    out: Path | None,
) -> None:
    """SQL the next upgrade of NAME would run, from the database's current revision,
    with the lint findings of the pending revisions."""
    results = [commands.plan(penv) for penv in settings.envs(name, all_, url, "plan")]
    if out is not None:
        planfile.write(out, [planfile.PlannedTarget.from_result(r, r.checksums) for r in results],
                       provenance.read(os.environ, settings.root).git_commit)  # fmt: skip
        log.info("plan saved to %s (apply it with: runner apply %s)", out, out)
    if format_ == "markdown":
        click.echo(report.plan_markdown(results))
    else:
        _emit("plan", results, as_json or format_ == "json")


@cli.command()
@click.argument("planfile_", metavar="PLANFILE", type=click.Path(dir_okay=False, path_type=Path))
@url_option
@write_options
@json_option
@pass_settings
def apply(
    settings: Settings,
    planfile_: Path,
    url: str | None,
    as_json: bool,
    lock_timeout: float,
    transaction_per_revision: bool,
) -> None:
    """Apply a saved plan exactly: refuse (exit 4) if a revision, the heads, the SQL or
    the database moved since it was made."""
    options = _options(lock_timeout, transaction_per_revision)
    planned = {t.project: t for t in planfile.read(planfile_)}
    envs = [settings.env(project, url) for project in planned]
    _run_each("apply", envs, lambda e: commands.apply_plan(e, planned[e.name], options), as_json)


@cli.command("test")
@click.argument("name", required=False)
@all_option
@click.option(
    "--db",
    "backend",
    type=click.Choice(scratch.BACKENDS),
    default="sqlite",
    show_default=True,
    help="Kind of throw-away database to test on.",
)
@click.option(
    "--server-url",
    metavar="URL",
    default=None,
    help="Admin URL of the server to create the throw-away database on"
    " (default: RUNNER_TEST_POSTGRES_URL / RUNNER_TEST_MYSQL_URL, else testcontainers).",
)
@junit_option
@json_option
@pass_settings
def test_(
    settings: Settings,
    name: str | None,
    all_: bool,
    backend: str,
    server_url: str | None,
    junit_file: Path | None,
    as_json: bool,
) -> None:
    """Round-trip every revision of NAME on a throw-away database: up, down, compare, up."""
    # "sqlite://" only stands in for the project's own URL, which a test never uses
    # (and must not fail on): each project is re-pointed at its throw-away database.
    envs = settings.envs(name, all_, "sqlite://", "test")
    # One line per revision replaces Alembic's "Running upgrade ..." chatter (3 per revision).
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    from runner import junit, roundtrip  # only this verb pays for reflection and XML

    results = roundtrip.run_tests(envs, backend, server_url)
    if junit_file is not None:
        junit.write(junit_file, "runner test", roundtrip.junit_suites(results))
    _emit("test", results, as_json)
    failed = [r.project for r in results if not r.passed]
    if failed:
        raise roundtrip.RoundTripFailed(f"round trip failed for {', '.join(failed)}")


@cli.command("lint")
@click.argument("name", required=False)
@all_option
@url_option
@click.option(
    "--dialect",
    type=click.Choice(["postgresql", "mysql", "sqlite"]),
    default=None,
    help="Render and parse SQL for this dialect instead of the URL's (never connects).",
)
@junit_option
@json_option
@pass_settings
def lint_(
    settings: Settings,
    name: str | None,
    all_: bool,
    url: str | None,
    dialect: str | None,
    junit_file: Path | None,
    as_json: bool,
) -> None:
    """Check NAME's history and upgrade SQL for risky changes (offline, no database)."""
    from runner import junit, lint  # here, not at the top: lint's only CLI hook

    results = [lint.lint(e, dialect) for e in settings.envs(name, all_, url, "lint")]
    if junit_file is not None:
        junit.write(junit_file, "runner lint", lint.junit_suites(results))
    _emit("lint", results, as_json)
    lint.raise_if_failed(results)


def _run_each(
    verb: str, envs: Sequence[ProjectEnv], fn: Callable[[ProjectEnv], Any], as_json: bool
) -> None:
    """Run ``fn`` per project; print what succeeded even when a later one fails."""
    results: list[Any] = []
    try:
        for penv in envs:
            results.append(fn(penv))
    finally:
        if results:
            _emit(verb, results, as_json)


# --- entry point -------------------------------------------------------------


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(redact.ScrubFilter())
    for name, level in (("runner", logging.INFO), ("alembic.runtime.migration", logging.INFO)):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # Alembic announces the dialect and DDL mode on every run; keep only "Running ...".
    logging.getLogger("alembic.runtime.migration").addFilter(
        lambda record: record.getMessage().startswith("Running ")
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the CLI and exit with a documented code."""
    _configure_logging()
    args = list(sys.argv[1:] if argv is None else argv)
    # Decided before parsing, so that even a usage error can show its traceback.
    debug = "--debug" in args or os.environ.get("RUNNER_DEBUG", "") not in {"", "0"}
    try:
        cli.main(args=args, prog_name="runner", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if exc.exit_code not in (0, 1) else exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except RunnerError as exc:
        if debug:
            click.echo(redact.scrub(traceback.format_exc()), err=True)
        click.echo(f"error: {redact.scrub(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: say so briefly, details with --debug
        if debug:
            click.echo(redact.scrub(traceback.format_exc()), err=True)
        click.echo(
            f"internal error: {type(exc).__name__}: {redact.scrub(str(exc))}"
            " (rerun with --debug for a traceback)",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)
