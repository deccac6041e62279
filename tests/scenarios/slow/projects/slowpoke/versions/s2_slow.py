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
    # With SLOWPOKE_GATE, the step waits (SLOWPOKE_SECONDS at most) until the test makes
    # that file: a race then never depends on how fast a loaded machine starts a process.
    seconds, gate = float(os.environ.get("SLOWPOKE_SECONDS", "0")), os.environ.get("SLOWPOKE_GATE")
    deadline = time.monotonic() + seconds
    if gate:
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        time.sleep(seconds)
    op.create_table("second", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO second (id) VALUES (1)")


def downgrade() -> None:
    op.drop_table("second")
