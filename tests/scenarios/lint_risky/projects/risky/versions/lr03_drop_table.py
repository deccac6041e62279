"""drop a table"""

import sqlalchemy as sa
from alembic import op

revision = "lr03"
down_revision = "lr02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("legacy")


def downgrade() -> None:
    op.create_table("legacy", sa.Column("id", sa.Integer, primary_key=True))
