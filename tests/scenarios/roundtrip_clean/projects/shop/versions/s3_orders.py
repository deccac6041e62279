"""create orders referencing customers"""

import sqlalchemy as sa
from alembic import op

revision = "s3"
down_revision = "s2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("total", sa.Numeric(10, 2), nullable=False),
        sa.CheckConstraint("total >= 0", name="ck_orders_total"),
    )
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])


def downgrade() -> None:
    # Dropping the table drops its indexes; MySQL refuses to drop
    # ix_orders_customer_id alone while the foreign key needs it.
    op.drop_table("orders")
