"""drop a column"""

import sqlalchemy as sa
from alembic import op

revision = "lr02"
down_revision = "lr01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("accounts", "nickname")


def downgrade() -> None:
    op.add_column("accounts", sa.Column("nickname", sa.String(50)))
