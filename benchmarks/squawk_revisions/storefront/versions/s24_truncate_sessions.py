"""a scratch table emptied with cascade"""

import sqlalchemy as sa
from alembic import op

revision = "s24"
down_revision = "s23"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("carts", sa.Column("id", sa.BigInteger, primary_key=True))
    op.execute("TRUNCATE carts CASCADE")


def downgrade() -> None:
    op.drop_table("carts")
