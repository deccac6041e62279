"""markers without reasons, or with typos"""

import sqlalchemy as sa
from alembic import op

revision = "hm2"
down_revision = "hm1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # lint: accept drop-column
    # lint: accept drop-colum: typo in the rule id
    # lint: shrug
    op.drop_column("people", "alias")


def downgrade() -> None:
    op.add_column("people", sa.Column("alias", sa.String(9)))
