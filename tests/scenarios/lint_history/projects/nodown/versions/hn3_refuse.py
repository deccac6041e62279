"""a downgrade that only raises"""

import sqlalchemy as sa
from alembic import op

revision = "hn3"
down_revision = "hn2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("stock", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    raise NotImplementedError("no way back")
