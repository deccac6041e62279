"""fill in missing statuses"""

from alembic import op

# lint: irreversible: which rows had no status is not recorded, so there is nothing to restore

revision = "ls4"
down_revision = "ls3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE customers SET status = 'active' WHERE status IS NULL")


def downgrade() -> None:
    pass
