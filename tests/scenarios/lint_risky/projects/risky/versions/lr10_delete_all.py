"""delete every row, truncate, drop a schema"""

from alembic import op

revision = "lr10"
down_revision = "lr09"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM events")
    op.execute("TRUNCATE TABLE accounts")
    op.execute("DROP SCHEMA archive")


def downgrade() -> None:
    op.execute("CREATE SCHEMA archive")
