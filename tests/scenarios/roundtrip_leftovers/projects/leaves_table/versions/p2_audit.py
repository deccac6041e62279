"""create audit and audit_archive"""

import sqlalchemy as sa
from alembic import op

revision = "p2"
down_revision = "p1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))
    op.create_table("audit_archive", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    # Forgets audit_archive: the round trip must name it.
    op.drop_table("audit")
