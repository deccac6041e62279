"""backfill every currency"""

from alembic import op

revision = "s19"
down_revision = "s18"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE orders SET currency = 'EUR'")


# lint: irreversible: data-only or enum change, nothing to undo
def downgrade() -> None:
    pass
