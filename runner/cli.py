"""Command-line interface: parse arguments, call :mod:`runner.commands`, render.

This module is deliberately thin. It owns the one ``except RunnerError`` of the
program (in :func:`main`), which prints a single ``error:`` line and exits with
the error's code; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from runner import __version__, authoring, commands, projects, redact, report, targets
from runner.environment import ProjectEnv
from runner.errors import EXIT_INTERRUPTED, EXIT_USAGE, ConfigError, RunnerError

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
@json_option
@pass_settings
def upgrade(
    settings: Settings, name: str | None, rev: str, all_: bool, url: str | None, as_json: bool
) -> None:
    """Apply revisions of NAME up to REV (default: head)."""
    if all_ and rev != "head":
        raise ConfigError("upgrade --all takes no revision: every project goes to its head")
    _run_each(
        "upgrade",
        settings.envs(name, all_, url, "upgrade"),
        lambda e: commands.upgrade(e, rev),
        as_json,
    )


# ignore_unknown_options: so "-1" (one step down) is a REV, not an unknown option.
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("rev")
@url_option
@json_option
@pass_settings
def downgrade(settings: Settings, name: str, rev: str, url: str | None, as_json: bool) -> None:
    """Revert NAME to REV: a revision id, -1 (one step) or base."""
    _emit("downgrade", [commands.downgrade(settings.env(name, url), rev)], as_json)


@cli.command()
@click.argument("name", required=False)
@url_option
@json_option
@pass_settings
def status(settings: Settings, name: str | None, url: str | None, as_json: bool) -> None:
    """Current revision, heads and pending count of NAME (all projects without NAME)."""
    _run_each("status", settings.envs(name, name is None, url, "status"), commands.status, as_json)


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
@json_option
@pass_settings
def stamp(
    settings: Settings,
    name: str,
    revs: tuple[str, ...],
    purge: bool,
    url: str | None,
    as_json: bool,
) -> None:
    """Record REV(S) as current for NAME without running any migration."""
    _emit("stamp", [commands.stamp(settings.env(name, url), revs, purge=purge)], as_json)


@cli.command()
@click.argument("name", required=False)
@all_option
@url_option
@json_option
@pass_settings
def plan(settings: Settings, name: str | None, all_: bool, url: str | None, as_json: bool) -> None:
    """SQL the next upgrade of NAME would run, from the database's current revision."""
    _run_each("plan", settings.envs(name, all_, url, "plan"), commands.plan, as_json)


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
