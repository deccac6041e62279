"""base"""

import sqlalchemy as sa
from alembic import op

revision = "hf1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("f1", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("f1")
