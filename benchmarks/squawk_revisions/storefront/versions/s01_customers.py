"""create the customers and legacy tables"""

import sqlalchemy as sa
from alembic import op

revision = "s01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "legacy_events", sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text)
    )
    op.create_table("tags", sa.Column("name", sa.Text, nullable=False))


def downgrade() -> None:
    op.drop_table("tags")
    op.drop_table("legacy_events")
    op.drop_table("customers")
