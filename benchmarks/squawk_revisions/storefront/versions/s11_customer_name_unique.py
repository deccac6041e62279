"""names are unique"""

from alembic import op

revision = "s11"
down_revision = "s10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_unique_constraint("uq_customers_name", "customers", ["name"])


def downgrade() -> None:
    op.drop_constraint("uq_customers_name", "customers", type_="unique")
