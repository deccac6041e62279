"""drop the archive"""

import sqlalchemy as sa
from alembic import op

revision = "s20"
down_revision = "s19"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("events_archive")


def downgrade() -> None:
    op.create_table(
        "events_archive", sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text)
    )
