"""built on a revision that was deleted"""

import sqlalchemy as sa
from alembic import op

revision = "hd2"
down_revision = "hd0_gone"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("d2", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("d2")
