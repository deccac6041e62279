"""rename a table"""

from alembic import op

revision = "lr06"
down_revision = "lr05"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("notes", "memos")


def downgrade() -> None:
    op.rename_table("memos", "notes")
