"""add people.age: batch mode rebuilds the table with new statement text"""

import sqlalchemy as sa
from alembic import op

revision = "q2"
down_revision = "q1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people", recreate="always") as batch:
        batch.add_column(sa.Column("age", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("people", recreate="always") as batch:
        batch.drop_column("age")
