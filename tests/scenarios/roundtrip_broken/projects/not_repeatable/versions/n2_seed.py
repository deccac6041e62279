"""seed the theme setting"""

from alembic import op

revision = "n2"
down_revision = "n1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO settings (name, value) VALUES ('theme', 'dark')")


def downgrade() -> None:
    # Forgets to delete the row: the schema is back, but upgrading again collides.
    pass
