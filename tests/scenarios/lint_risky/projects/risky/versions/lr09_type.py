"""change a column type"""

import sqlalchemy as sa
from alembic import op

revision = "lr09"
down_revision = "lr08"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("accounts", "score", type_=sa.BigInteger, existing_type=sa.Integer)


def downgrade() -> None:
    op.alter_column("accounts", "score", type_=sa.Integer, existing_type=sa.BigInteger)
