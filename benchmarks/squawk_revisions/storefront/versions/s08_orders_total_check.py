"""totals are never negative"""

from alembic import op

revision = "s08"
down_revision = "s07"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_check_constraint("ck_orders_total", "orders", "total >= 0")


def downgrade() -> None:
    op.drop_constraint("ck_orders_total", "orders", type_="check")
