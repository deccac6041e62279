"""slow step"""

import os
import time

import sqlalchemy as sa
from alembic import op

revision = "s2"
down_revision = "s1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tests make this revision slow to race or kill runs in the middle of it. The
    # sleep comes first: on MySQL a kill after the CREATE would leave it behind.
    time.sleep(float(os.environ.get("SLOWPOKE_SECONDS", "0")))
    op.create_table("second", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO second (id) VALUES (1)")


def downgrade() -> None:
    op.drop_table("second")
