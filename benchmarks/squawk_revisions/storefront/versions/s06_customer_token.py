"""add an API token with a volatile default"""

import sqlalchemy as sa
from alembic import op

revision = "s06"
down_revision = "s05"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("api_token", sa.Uuid, server_default=sa.text("gen_random_uuid()")),
    )


def downgrade() -> None:
    op.drop_column("customers", "api_token")
