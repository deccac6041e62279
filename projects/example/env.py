"""Alembic environment of a docker-alembic project.

Works two ways:

* under the runner, which opens the connection itself (to take locks, hold the
  transaction and record what ran) and hands it over (see ``runner.contract``);
* under plain ``alembic -c projects/<name>/alembic.ini ...``, where it builds an
  engine from ``sqlalchemy.url`` like any stock env.py.
"""

from __future__ import annotations

from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import Connection

from runner import contract

config = context.config

# The runner configures logging itself; plain alembic gets the ini's loggers.
if config.config_file_name is not None and not contract.under_runner(config):
    fileConfig(config.config_file_name)

# Set to a MetaData for autogenerate support (for example: from myapp import models;
# target_metadata = models.Base.metadata).
target_metadata = None

# This project's own version table: alembic.ini's version_table, else one
# derived from the folder name, so that two projects never share one.
VERSION_TABLE = config.get_main_option("version_table") or (
    "alembic_version_" + Path(config.get_main_option("here", ".")).resolve().name.replace("-", "_")
)
VERSION_TABLE_SCHEMA = config.get_main_option("version_table_schema") or None

if not contract.under_runner(config):
    # Plain alembic: resolve the URL by the runner's rules (<NAME>_DATABASE_URL,
    # <NAME>_DATABASE_URL_FILE, alembic.ini, then var/<name>.sqlite).
    from runner.targets import url_for_plain_alembic

    _url = url_for_plain_alembic(config.config_file_name or "alembic.ini")
    config.set_main_option("sqlalchemy.url", _url.replace("%", "%%"))


def _configure(**kw: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        version_table_schema=VERSION_TABLE_SCHEMA,
        **kw,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """Render SQL for review instead of running it (``--sql`` / ``runner plan``)."""
    _configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(
        connection=connection,
        # Batch mode lets ALTER-style operations work on SQLite by copying tables.
        render_as_batch=contract.render_as_batch(connection),
        transaction_per_migration=contract.transaction_per_migration(config),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = contract.connection(config)
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        _run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
