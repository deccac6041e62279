"""a foreign key the safe way"""

import sqlalchemy as sa
from alembic import op

revision = "s23"
down_revision = "s22"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("billing_id", sa.BigInteger))
    op.execute(
        "ALTER TABLE orders ADD CONSTRAINT fk_orders_billing FOREIGN KEY (billing_id)"
        " REFERENCES customers (id) NOT VALID"
    )


def downgrade() -> None:
    op.drop_constraint("fk_orders_billing", "orders", type_="foreignkey")
    op.drop_column("orders", "billing_id")
