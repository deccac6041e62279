"""index orders by customer"""

from alembic import op

revision = "s03"
down_revision = "s02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_orders_customer_id", table_name="orders")
