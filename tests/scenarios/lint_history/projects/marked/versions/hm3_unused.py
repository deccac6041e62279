"""an acceptance for a finding that is not there"""

import sqlalchemy as sa
from alembic import op

revision = "hm3"
down_revision = "hm2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # lint: accept drop-table: nothing is dropped here
    op.create_table("pets", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("pets")
