"""drop the nickname column"""

import sqlalchemy as sa
from alembic import op

revision = "ls3"
down_revision = "ls2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # lint: accept drop-column: nickname unused since app v2.3, confirmed with the app team
    op.drop_column("customers", "nickname")


def downgrade() -> None:
    op.add_column("customers", sa.Column("nickname", sa.String(50)))
