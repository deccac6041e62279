"""second file claiming ht2 (a copy-paste)"""

import sqlalchemy as sa
from alembic import op

revision = "ht2"
down_revision = "ht1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("t3", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("t3")
