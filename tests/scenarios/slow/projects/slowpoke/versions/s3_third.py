"""third table"""

import sqlalchemy as sa
from alembic import op

revision = "s3"
down_revision = "s2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("third", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("third")
