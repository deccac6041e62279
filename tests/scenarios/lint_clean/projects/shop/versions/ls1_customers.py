"""customers, indexed as they are created"""

import sqlalchemy as sa
from alembic import op

revision = "ls1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(100)),
        sa.Column("nickname", sa.String(50)),
        sa.Column("status", sa.String(20)),
    )
    op.create_index("ix_customers_email", "customers", ["email"])


def downgrade() -> None:
    op.drop_index("ix_customers_email", table_name="customers")
    op.drop_table("customers")
