"""seed from sql

Revision ID: 9b9ea6a7911f
Revises: b298d4fc3182
Create Date: 2026-11-25 11:55:53.221731
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.sql_files import run_sql_file

# Revision identifiers, used by Alembic.
revision: str = "9b9ea6a7911f"
down_revision: str | Sequence[str] | None = "b298d4fc3182"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs the statements of the .upgrade.sql file next to this one.
    run_sql_file(__file__, "upgrade")


def downgrade() -> None:
    # Runs the statements of the .downgrade.sql file next to this one.
    run_sql_file(__file__, "downgrade")
