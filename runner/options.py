"""Every option shared by several verbs, declared once.

Each :class:`Option` record holds the flags, help, environment variable and
default of one option; applying it to a command adds the click option, with
the variable shown by click's own help (``[env var: RUNNER_LOCK_TIMEOUT]``).
The CLI never repeats an option's definition. Importing this module must stay
cheap: ``runner --help`` imports it, and neither SQLAlchemy nor Alembic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from runner.db import DEFAULT_LOCK_TIMEOUT
from runner.db.backends import NAMES
from runner.errors import RunnerError

DIALECTS = NAMES  # the backends a project may declare (runner new --dialect)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Option:
    """One command-line option: ``Option(...)(command)`` adds it to ``command``."""

    flags: tuple[str, ...]
    help: str
    envvar: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def __call__(self, command: F) -> F:
        return click.option(
            *self.flags, help=self.help, envvar=self.envvar, show_envvar=self.envvar is not None,
            **self.settings,
        )(command)  # fmt: skip


ROOT = Option(
    ("--root",),
    "Repository root holding projects/ and var/.",
    envvar="RUNNER_ROOT",
    settings={
        "type": click.Path(file_okay=False, path_type=Path),
        "default": ".",
        "show_default": True,
    },
)
DEBUG = Option(
    ("--debug",), "Show tracebacks on errors.", envvar="RUNNER_DEBUG", settings={"is_flag": True}
)
URL = Option(
    ("--url",),
    "Database URL for this run (overrides <NAME>_DATABASE_URL and alembic.ini).",
    settings={"metavar": "URL"},
)
ALL = Option(
    ("--all", "all_"),
    "Every project under projects/ (with NAME: that project), on every target it declares"
    " (writes leave protected ones out unless confirmed).",
    settings={"is_flag": True},
)
JUNIT = Option(
    ("--junit", "junit_file"),
    "Also write JUnit XML (one testsuite per project, one testcase per revision).",
    settings={"type": click.Path(dir_okay=False, path_type=Path), "default": None},
)


class Seconds(click.FloatRange):
    """A number of seconds: 0 or more, finite (``nan`` and ``inf`` would wait forever)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


LOCK_TIMEOUT = Option(
    ("--lock-timeout",),
    "How long to wait for another run's lock.",
    envvar="RUNNER_LOCK_TIMEOUT",
    settings={
        "type": Seconds(min=0, max=7 * 24 * 3600),
        "default": DEFAULT_LOCK_TIMEOUT,
        "show_default": True,
        "metavar": "SECONDS",
    },
)
PER_REVISION = Option(
    ("--transaction-per-revision",),
    "Commit after each revision instead of once for the whole run.",
    settings={"is_flag": True},
)
FAIL_ON = Option(
    ("--fail-on",),
    "Exit non-zero on unaccepted findings of this severity or worse [default: error].",
    settings={"type": click.Choice(["error", "warning"]), "default": "error"},
)
DIALECT = Option(
    ("--dialect",),
    "Render and parse SQL for this dialect instead of the URL's (never connects).",
    settings={"type": click.Choice(NAMES), "default": None},
)
DB = Option(
    ("--db", "backend"),
    "Kind of throw-away database to test on [default: the dialect the project's"
    " targets.toml declares, else sqlite].",
    settings={"type": click.Choice(NAMES), "default": None},
)


DB_LOCK_TIMEOUT = Option(
    ("--db-lock-timeout",),
    "How long one statement may wait for a table lock before its revision is rolled back"
    " and retried (0: no limit) [default: the target's db_lock_timeout, else 5].",
    envvar="RUNNER_DB_LOCK_TIMEOUT",
    settings={"type": Seconds(min=0, max=7 * 24 * 3600), "default": None, "metavar": "SECONDS"},
)
LOCK_RETRIES = Option(
    ("--lock-retries",),
    "How often a revision that gave up waiting for a lock is tried again [default: the"
    " target's lock_retries, else 3].",
    envvar="RUNNER_LOCK_RETRIES",
    settings={"type": click.IntRange(0, 100), "default": None, "metavar": "N"},
)
# ctx.meta key: the deploy guard given on the command line, read by runner.cli.
GUARD_KEY = "runner.guard"


def write_options(command: F) -> F:
    """``--lock-timeout``, ``--transaction-per-revision`` and the deploy guard
    (``--db-lock-timeout``, ``--lock-retries``), shared by every writing verb. The guard
    reaches the command through ``ctx.meta[GUARD_KEY]``, not as arguments."""

    @functools.wraps(command)
    def merged(*args: Any, db_lock_timeout: float | None, lock_retries: int | None,
               **kwargs: Any) -> Any:  # fmt: skip
        click.get_current_context().meta[GUARD_KEY] = (db_lock_timeout, lock_retries)
        return command(*args, **kwargs)

    wrapped: Any = merged
    for option in (LOCK_RETRIES, DB_LOCK_TIMEOUT, PER_REVISION, LOCK_TIMEOUT):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[no-any-return]


def output_format(*choices: str) -> Callable[[F], F]:
    """``--format CHOICE`` (default ``text``) and ``--json``, its alias for ``--format json``.

    The command receives one ``fmt`` argument; ``--json`` with another
    ``--format`` is a usage error rather than one of them silently winning.
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def merged(*args: Any, format_: str | None, as_json: bool, **kwargs: Any) -> Any:
            if as_json and format_ not in (None, "json"):
                raise click.UsageError(f"--json and --format {format_} ask for two formats")
            fmt = "json" if as_json else format_ or "text"
            try:
                return command(*args, fmt=fmt, **kwargs)
            except RunnerError as exc:
                if fmt == "json":
                    _json_error(click.get_current_context(), exc)
                raise

        def _json_error(ctx: click.Context, exc: RunnerError) -> None:
            """With --json, a refusal or failure is a JSON document too (and still the
            one error line on stderr), unless results were printed already."""
            from runner import cli
            from runner.output import render

            if cli._emitted:
                return
            error = {"message": str(exc), "project": exc.project, "exit_code": exc.exit_code}
            click.echo(render.to_json(ctx.info_name or "", [], error=error))

        with_format = click.option(
            "--format", "format_", type=click.Choice(choices), default=None,
            help="Output format [default: text].",
        )(merged)  # fmt: skip
        return click.option(
            "--json", "as_json", is_flag=True, help="Print JSON (same as --format json)."
        )(with_format)  # type: ignore[return-value]

    return decorate


# --- targets: which databases of a project a command runs on ------------------------


@dataclass(frozen=True)
class TargetOptions:
    """The target options as given (parsed further by runner.fanout, which is heavier)."""

    env: str | None = None
    group: str | None = None
    patterns: tuple[str, ...] = ()
    jobs: int = 1
    fail_fast: bool | None = None
    canary: int = 0
    shard: str | None = None
    confirm: tuple[str, ...] = ()
    junit: Path | None = None


ENV = Option(("--env", "env_name"), "An environment declared in the project's targets.toml.",
             settings={"metavar": "NAME", "default": None})  # fmt: skip
GROUP = Option(("--group", "group_name"),
               "Every member of a group (fleet) declared in the project's targets.toml.",
               settings={"metavar": "NAME", "default": None})  # fmt: skip
TARGET = Option(
    ("--target", "target_patterns"),
    "Declared targets by name or pattern (prod, 'tenants/eu-*', '*'); repeatable.",
    settings={"metavar": "NAME", "multiple": True},
)
JOBS = Option(
    ("--jobs", "-j"), "How many targets run at once (worker processes).", envvar="RUNNER_JOBS",
    settings={"type": click.IntRange(1, 256), "default": 1, "show_default": True},
)  # fmt: skip
FAIL_FAST = Option(
    ("--fail-fast/--continue", "fail_fast"),
    "After a target fails, start no other (default: stop, except in a group, which continues).",
    settings={"default": None},
)
CANARY = Option(
    ("--canary",), "Run the first N targets first; if one fails, the rest are not run.",
    settings={"type": click.IntRange(min=0), "default": 0, "metavar": "N"},
)  # fmt: skip
SHARD = Option(
    ("--shard",),
    "Only this job's share of the targets: I/N (1-based), or auto (GitLab parallel:,"
    " a Kubernetes Indexed Job with RUNNER_SHARDS).",
    envvar="RUNNER_SHARD",
    settings={"metavar": "I/N|auto", "default": None},
)
TARGETS_JUNIT = Option(
    ("--junit", "targets_junit"),
    "Also write JUnit XML: one testsuite per project, one testcase per target.",
    settings={"type": click.Path(dir_okay=False, path_type=Path), "default": None},
)
CONFIRM = Option(
    ("--confirm",),
    "Confirm a write to a protected target: its name, its group, or '*' (also"
    " RUNNER_CONFIRM, comma-separated); repeatable.",
    settings={"metavar": "NAME", "multiple": True},
)


def target_options(writing: bool) -> Callable[[F], F]:
    """``--env/--group/--target/--jobs/--fail-fast/--canary/--shard`` (and ``--confirm``
    for a writing verb): the command receives them as one ``targets`` argument."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def merged(
            *args: Any, env_name: str | None, group_name: str | None,
            target_patterns: tuple[str, ...], jobs: int, fail_fast: bool | None, canary: int,
            shard: str | None, targets_junit: Path | None, confirm: tuple[str, ...] = (),
            **kwargs: Any,
        ) -> Any:  # fmt: skip
            chosen = TargetOptions(
                env_name, group_name, tuple(target_patterns), jobs, fail_fast, canary, shard,
                tuple(confirm), targets_junit,
            )  # fmt: skip
            return command(*args, targets=chosen, **kwargs)

        wrapped: Any = merged
        for option in (TARGETS_JUNIT, SHARD, CANARY, FAIL_FAST, JOBS, TARGET, GROUP, ENV):
            wrapped = option(wrapped)
        if writing:
            wrapped = CONFIRM(wrapped)
        return wrapped  # type: ignore[no-any-return]

    return decorate
