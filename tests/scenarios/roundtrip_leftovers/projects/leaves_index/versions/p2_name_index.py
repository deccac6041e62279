"""index people.name, add people.age"""

import sqlalchemy as sa
from alembic import op

revision = "p2"
down_revision = "p1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_people_name", "people", ["name"])
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("age", sa.Integer))


def downgrade() -> None:
    # Forgets the index.
    with op.batch_alter_table("people") as batch:
        batch.drop_column("age")
