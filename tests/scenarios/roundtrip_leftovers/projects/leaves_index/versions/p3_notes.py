"""create notes"""

import sqlalchemy as sa
from alembic import op

revision = "p3"
down_revision = "p2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("notes")
