"""create foo

Revision ID: 493c113bbcff
Revises:
Create Date: 2026-11-25 11:55:52.535329
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision identifiers, used by Alembic.
revision: str = "493c113bbcff"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The seed quickstart's table, written portably (SQLite, PostgreSQL, MySQL).
    foo = op.create_table(
        "foo",
        sa.Column("field1", sa.String(50), nullable=False),
        sa.Column("field2", sa.String(50), nullable=False),
    )
    op.bulk_insert(foo, [{"field1": "hello", "field2": "world"}])


def downgrade() -> None:
    op.drop_table("foo")
