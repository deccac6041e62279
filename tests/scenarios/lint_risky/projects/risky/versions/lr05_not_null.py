"""add a NOT NULL column without default"""

import sqlalchemy as sa
from alembic import op

revision = "lr05"
down_revision = "lr04"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("region", sa.String(10), nullable=False))


def downgrade() -> None:
    op.drop_column("accounts", "region")
