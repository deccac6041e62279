"""a shipment state type"""

import sqlalchemy as sa
from alembic import op

revision = "s15"
down_revision = "s14"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TYPE shipment_state AS ENUM ('packed', 'sent')")
    op.add_column(
        "orders", sa.Column("shipment", sa.Enum(name="shipment_state", create_type=False))
    )


def downgrade() -> None:
    op.drop_column("orders", "shipment")
    op.execute("DROP TYPE shipment_state")
