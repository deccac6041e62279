"""add a nullable note"""

import sqlalchemy as sa
from alembic import op

revision = "s04"
down_revision = "s03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("note", sa.Text))


def downgrade() -> None:
    op.drop_column("orders", "note")
