"""returned shipments"""

from alembic import op

revision = "s16"
down_revision = "s15"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TYPE shipment_state ADD VALUE 'returned'")


# lint: irreversible: data-only or enum change, nothing to undo
def downgrade() -> None:
    pass  # enum values cannot be removed
