"""right"""

import sqlalchemy as sa
from alembic import op

revision = "hf2b"
down_revision = "hf1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("f2b", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("f2b")
