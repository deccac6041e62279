"""index a column that does not exist"""

from alembic import op

revision = "u2"
down_revision = "u1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_things_missing", "things", ["missing"])


def downgrade() -> None:
    op.drop_index("ix_things_missing", table_name="things")
