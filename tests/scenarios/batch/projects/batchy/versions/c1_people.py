"""create people"""

import sqlalchemy as sa
from alembic import op

revision = "c1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(20), nullable=True),
        sa.Column("nickname", sa.String(20)),
    )
    op.execute("INSERT INTO people (id, name, nickname) VALUES (1, 'Ada', 'ada')")


def downgrade() -> None:
    op.drop_table("people")
