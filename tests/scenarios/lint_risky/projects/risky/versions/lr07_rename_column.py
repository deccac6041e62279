"""rename a column"""

import sqlalchemy as sa
from alembic import op

revision = "lr07"
down_revision = "lr06"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("accounts", "name", new_column_name="full_name", existing_type=sa.String(50))


def downgrade() -> None:
    op.alter_column("accounts", "full_name", new_column_name="name", existing_type=sa.String(50))
