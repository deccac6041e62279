"""every order has a note"""

import sqlalchemy as sa
from alembic import op

revision = "s10"
down_revision = "s09"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE orders SET note = '' WHERE note IS NULL")
    op.alter_column("orders", "note", nullable=False, existing_type=sa.Text)


def downgrade() -> None:
    op.alter_column("orders", "note", nullable=True, existing_type=sa.Text)
