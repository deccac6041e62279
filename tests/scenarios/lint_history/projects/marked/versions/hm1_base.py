"""base"""

import sqlalchemy as sa
from alembic import op

revision = "hm1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people", sa.Column("id", sa.Integer, primary_key=True), sa.Column("alias", sa.String(9))
    )


def downgrade() -> None:
    op.drop_table("people")
