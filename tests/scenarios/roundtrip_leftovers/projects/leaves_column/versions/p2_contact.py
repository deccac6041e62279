"""add people.nickname and people.email"""

import sqlalchemy as sa
from alembic import op

revision = "p2"
down_revision = "p1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("nickname", sa.String(30)))
        batch.add_column(sa.Column("email", sa.String(120)))


def downgrade() -> None:
    # Forgets nickname.
    with op.batch_alter_table("people") as batch:
        batch.drop_column("email")
