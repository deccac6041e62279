"""reorder events physically (a statement sqlglot cannot parse)"""

from alembic import op

# lint: irreversible: CLUSTER only changes the physical row order, there is nothing to undo

revision = "lr11"
down_revision = "lr10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CLUSTER events USING ix_events_kind")


def downgrade() -> None:
    pass
