"""What the runner and a project's env.py tell each other.

The runner drives env.py the way ``alembic.command`` does and passes what
env.py needs in ``Config.attributes``, under the keys below. The project
template's env.py reads them through these helpers; a stock env.py reads
none of them and still works (it then opens its own connection). The keys'
values never change: env.py files written by older versions read them raw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

# Present when the runner (not plain `alembic`) runs env.py.
RUNNER = "runner"
# The runner's open connection: it holds the lock and the transaction, so
# env.py must migrate on it rather than build an engine of its own.
CONNECTION = "connection"
# True when this run commits after each revision (Alembic's transaction_per_migration).
TRANSACTION_PER_MIGRATION = "transaction_per_migration"


def under_runner(config: Config) -> bool:
    """Whether the runner is driving this env.py (else plain ``alembic -c``)."""
    return RUNNER in config.attributes


def connection(config: Config) -> Connection | None:
    """The runner's connection, or ``None`` when env.py must connect by itself."""
    found: Any = config.attributes.get(CONNECTION)
    return found  # type: ignore[no-any-return]


def transaction_per_migration(config: Config) -> bool:
    """Whether env.py should configure ``transaction_per_migration=True``."""
    return bool(config.attributes.get(TRANSACTION_PER_MIGRATION))


def render_as_batch(connection: Connection) -> bool:
    """Whether env.py should use Alembic's batch mode on this connection (SQLite)."""
    from runner.db.backends import backend

    return backend(connection.dialect.name).batch_alter
