"""add bar column

Revision ID: b298d4fc3182
Revises: 493c113bbcff
Create Date: 2026-11-25 11:55:52.877090
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision identifiers, used by Alembic.
revision: str = "b298d4fc3182"
down_revision: str | Sequence[str] | None = "493c113bbcff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("foo", sa.Column("bar", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Batch mode: SQLite cannot drop a column in place on older versions.
    with op.batch_alter_table("foo") as batch:
        batch.drop_column("bar")
