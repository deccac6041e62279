"""index customers by signup, concurrently"""

from alembic import op

revision = "s14"
down_revision = "s13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_customers_created_at", "customers", ["created_at"], postgresql_concurrently=True
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_customers_created_at", table_name="customers", postgresql_concurrently=True
        )
