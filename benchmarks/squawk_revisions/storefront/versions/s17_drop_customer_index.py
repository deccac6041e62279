"""the customer index is unused"""

from alembic import op

revision = "s17"
down_revision = "s16"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_orders_customer_id", table_name="orders")


def downgrade() -> None:
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])
