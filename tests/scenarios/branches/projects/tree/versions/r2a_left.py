"""left branch"""

import sqlalchemy as sa
from alembic import op

revision = "r2a"
down_revision = "r1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("t2a", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("t2a")
