"""status becomes text"""

import sqlalchemy as sa
from alembic import op

revision = "s09"
down_revision = "s08"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("orders", "status", type_=sa.Text, existing_type=sa.String(20))


def downgrade() -> None:
    op.alter_column("orders", "status", type_=sa.String(20), existing_type=sa.Text)
