"""tighten people"""

import sqlalchemy as sa
from alembic import op

revision = "c2"
down_revision = "c1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.alter_column("name", existing_type=sa.String(20), type_=sa.String(80), nullable=False)
        batch.drop_column("nickname")


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("nickname", sa.String(20)))
        batch.alter_column("name", existing_type=sa.String(80), type_=sa.String(20), nullable=True)
