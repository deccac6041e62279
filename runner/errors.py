"""Every exception the runner raises on purpose, and the exit codes they map to.

Every error a user can cause or fix is a :class:`RunnerError`. The CLI catches
this base in exactly one place (:func:`runner.cli.main`), prints
``error: <message>`` on one line and exits with :attr:`RunnerError.exit_code`.
Anything else escaping is a bug: exit 70, one ``internal error`` line (a
traceback with ``--debug``).

Exit codes are part of the public interface (documented in the README):

====  =====================================================================
0     success
1     a migration failed while running (the database is at a known
      revision, which the message names), lint found an unaccepted error,
      or a round trip failed
2     usage or configuration error: nothing was changed
3     database unreachable, or authentication failed
4     refused by a safety check: a revision file changed since it was applied,
      the database is at a revision the repository does not know, a failed
      run on MySQL/MariaDB awaits ``repair``, or a saved plan went stale
5     another run held the project's lock past ``--lock-timeout``
6     a run over several targets: some failed (the summary names them); the others
      succeeded, or were not run after a failure (``--fail-fast``, a failed canary)
7     ``drift`` found objects changed outside the migrations, or ``diff`` found two
      targets' schemas differ (the report names the objects)
70    internal error: a bug in the runner (please report it with ``--debug``)
130   interrupted (Ctrl-C, SIGINT)
143   terminated (SIGTERM, what CI sends when a job is cancelled)
====  =====================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_MIGRATION_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_LOCKED = 5
EXIT_PARTIAL = 6
EXIT_DRIFT = 7
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process it terminated


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt: no ``except Exception``
    swallows it, and every ``finally`` on the way out still runs (locks are released,
    throw-away databases dropped, transactions rolled back)."""


class RunnerError(Exception):
    """Base of every error meant for the user; ``str(err)`` is the one-line message.

    ``project`` names the project at fault: the message is then shown as
    ``<project>: <message>``, and :attr:`message` is the text without it (for
    places that already say which project, such as a status table).
    """

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, project: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.project = project

    def __str__(self) -> str:
        return f"{self.project}: {self.message}" if self.project else self.message


class ConfigError(RunnerError):
    """A project, its ``alembic.ini``, a setting or an argument is wrong."""


class ProjectNotFound(ConfigError):
    """No ``projects/<name>/alembic.ini`` for the requested name."""


class RevisionFileError(ConfigError):
    """A revision file (or env.py) could not be imported."""


class RevisionProblem(ConfigError):
    """A revision argument is unknown or ambiguous, or the history is inconsistent."""


class DriverMissing(ConfigError):
    """The URL names a database driver that is not installed."""


class DatabaseUnreachable(RunnerError):
    """The database did not answer, or refused our credentials."""

    exit_code = EXIT_UNREACHABLE


# (revision, its down revisions, its message): what the change log records of a failure.
FailedStep = tuple[str, tuple[str, ...], str]


class MigrationFailed(RunnerError):
    """A revision raised while running against the database."""

    exit_code = EXIT_MIGRATION_FAILED

    def __init__(
        self, message: str, failed_step: FailedStep | None = None, *, project: str | None = None
    ) -> None:
        super().__init__(message, project=project)
        self.failed_step = failed_step


class LintFailed(RunnerError):
    """Lint found error-severity findings that no marker accepts."""

    exit_code = EXIT_MIGRATION_FAILED


class RoundTripFailed(RunnerError):
    """At least one revision failed its round trip; the report says which."""

    exit_code = EXIT_MIGRATION_FAILED


class Refused(RunnerError):
    """A safety check (verify, failed state, a stale plan) stopped a writing command."""

    exit_code = EXIT_REFUSED


class LockTimeout(RunnerError):
    """Another run held the project's lock for longer than ``--lock-timeout``."""

    exit_code = EXIT_LOCKED


class PartialFailure(RunnerError):
    """A run over several targets where some failed; the summary names them."""

    exit_code = EXIT_PARTIAL


class DriftFound(RunnerError):
    """``drift``: a target's schema differs from what its migrations make (``diff``: two
    targets' schemas differ)."""

    exit_code = EXIT_DRIFT
