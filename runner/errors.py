"""The one exception family the runner raises on purpose.

Every error a user can cause or fix is a :class:`RunnerError`. The CLI catches
this base in exactly one place, prints ``error: <message>`` on one line and exits
with :attr:`RunnerError.exit_code`. Anything else escaping is a bug and shows a
traceback (or, without ``--debug``, a one-line "internal error" note).

Exit codes are part of the public interface (documented in the README):

====  =====================================================================
0     success
1     a migration failed while running; the database is at a known revision
2     usage or configuration error: nothing was changed
3     database unreachable, or authentication failed
4     refused by a safety check: a revision file changed since it was applied,
      the database is at a revision the repository does not know, or a failed
      run on MySQL/MariaDB awaits ``repair``
5     another run held the project's lock past ``--lock-timeout``
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_MIGRATION_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_LOCKED = 5
EXIT_INTERRUPTED = 130


class RunnerError(Exception):
    """Base of every error meant for the user; ``str(err)`` is the one-line message."""

    exit_code: int = EXIT_USAGE


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


class MigrationFailed(RunnerError):
    """A revision raised while running against the database."""

    exit_code = EXIT_MIGRATION_FAILED

    def __init__(self, message: str, failed_step: FailedStep | None = None) -> None:
        super().__init__(message)
        self.failed_step = failed_step


# (revision, its down revisions, its message): what the change log records of a failure.
FailedStep = tuple[str, tuple[str, ...], str]


class Refused(RunnerError):
    """A safety check (verify, failed state) stopped a writing command before it ran."""

    exit_code = EXIT_REFUSED


class LockTimeout(RunnerError):
    """Another run held the project's lock for longer than ``--lock-timeout``."""

    exit_code = EXIT_LOCKED
