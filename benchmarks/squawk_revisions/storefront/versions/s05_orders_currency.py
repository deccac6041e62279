"""add a currency with a constant default"""

import sqlalchemy as sa
from alembic import op

revision = "s05"
down_revision = "s04"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("currency", sa.CHAR(3), nullable=False, server_default="EUR"))


def downgrade() -> None:
    op.drop_column("orders", "currency")
