"""new columns the safe way"""

import sqlalchemy as sa
from alembic import op

revision = "ls2"
down_revision = "ls1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("phone", sa.String(30)))
    op.add_column(
        "customers",
        sa.Column("tier", sa.String(10), nullable=False, server_default="basic"),
    )
    # lint: accept blocking-index: customers holds a few thousand rows, the lock lasts a second
    op.create_index("ix_customers_status", "customers", ["status"])


def downgrade() -> None:
    op.drop_index("ix_customers_status", table_name="customers")
    op.drop_column("customers", "tier")
    op.drop_column("customers", "phone")
