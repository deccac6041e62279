"""add orders.status, widen customers.name"""

import sqlalchemy as sa
from alembic import op

revision = "s4"
down_revision = "s3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="new"))
    with op.batch_alter_table("customers") as batch:
        # existing_nullable: MySQL's MODIFY restates the whole column, and would
        # otherwise make it nullable (the round trip caught that on MariaDB).
        batch.alter_column(
            "name", existing_type=sa.String(50), type_=sa.String(200), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column(
            "name", existing_type=sa.String(200), type_=sa.String(50), existing_nullable=False
        )
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("status")
