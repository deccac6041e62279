"""a column added with a lock timeout"""

import sqlalchemy as sa
from alembic import op

revision = "s22"
down_revision = "s21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET lock_timeout = '3s'")
    op.execute("SET statement_timeout = '1min'")
    op.add_column("orders", sa.Column("gift", sa.Boolean))


def downgrade() -> None:
    op.drop_column("orders", "gift")
