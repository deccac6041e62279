"""notes move to a ticket system"""

import sqlalchemy as sa
from alembic import op

revision = "s13"
down_revision = "s12"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("orders", "note")


def downgrade() -> None:
    op.add_column("orders", sa.Column("note", sa.Text))
