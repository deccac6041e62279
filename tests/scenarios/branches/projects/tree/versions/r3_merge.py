"""merge left and right"""

import sqlalchemy as sa
from alembic import op

revision = "r3"
down_revision = ("r2a", "r2b")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("t3", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("t3")
