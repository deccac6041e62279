"""default for people.name"""

import sqlalchemy as sa
from alembic import op

revision = "q2"
down_revision = "q1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.alter_column("name", existing_type=sa.String(50), server_default="anonymous")


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        # Sets another default instead of removing it.
        batch.alter_column("name", existing_type=sa.String(50), server_default="nobody")
