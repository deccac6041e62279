"""tags get a primary key"""

from alembic import op

revision = "s21"
down_revision = "s20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_primary_key("pk_tags", "tags", ["name"])


def downgrade() -> None:
    op.drop_constraint("pk_tags", "tags", type_="primary")
