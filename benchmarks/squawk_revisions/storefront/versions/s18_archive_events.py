"""legacy events become an archive"""

from alembic import op

revision = "s18"
down_revision = "s17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("legacy_events", "events_archive")


def downgrade() -> None:
    op.rename_table("events_archive", "legacy_events")
