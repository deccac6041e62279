"""rename name to full_name"""

from alembic import op

revision = "s12"
down_revision = "s11"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("customers", "name", new_column_name="full_name")


def downgrade() -> None:
    op.alter_column("customers", "full_name", new_column_name="name")
