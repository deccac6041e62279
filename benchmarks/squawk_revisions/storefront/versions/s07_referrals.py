"""customers refer customers"""

import sqlalchemy as sa
from alembic import op

revision = "s07"
down_revision = "s06"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("referred_by", sa.BigInteger))
    op.create_foreign_key(
        "fk_customers_referred_by", "customers", "customers", ["referred_by"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint("fk_customers_referred_by", "customers", type_="foreignkey")
    op.drop_column("customers", "referred_by")
