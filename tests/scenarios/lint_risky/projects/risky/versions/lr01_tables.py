"""create the tables the risky revisions change"""

import sqlalchemy as sa
from alembic import op

revision = "lr01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("nickname", sa.String(50)),
        sa.Column("score", sa.Integer),
    )
    op.create_table("legacy", sa.Column("id", sa.Integer, primary_key=True))
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))
    op.create_table(
        "events", sa.Column("id", sa.Integer, primary_key=True), sa.Column("kind", sa.String(20))
    )
    # Indexing a table created in the same revision blocks nobody.
    op.create_index("ix_events_kind_new", "events", ["kind"])


def downgrade() -> None:
    for table in ("events", "notes", "legacy", "accounts"):
        op.drop_table(table)
