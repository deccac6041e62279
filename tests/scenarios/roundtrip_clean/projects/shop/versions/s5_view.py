"""view of open orders, and a seed customer"""

from alembic import op

revision = "s5"
down_revision = "s4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE VIEW open_orders AS SELECT id, customer_id FROM orders WHERE status = 'new'")
    op.execute("INSERT INTO customers (id, name) VALUES (1, 'walk-in')")


def downgrade() -> None:
    op.execute("DELETE FROM customers WHERE id = 1")
    op.execute("DROP VIEW open_orders")
