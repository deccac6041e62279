"""update every row"""

from alembic import op

revision = "lr04"
down_revision = "lr03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE accounts SET score = 0")


def downgrade() -> None:
    op.execute("UPDATE accounts SET score = NULL WHERE score = 0")
