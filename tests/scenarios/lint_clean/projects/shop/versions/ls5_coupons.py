"""coupons, written in plain SQL"""

from runner.sql_files import run_sql_file

revision = "ls5"
down_revision = "ls4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(__file__, "upgrade")


def downgrade() -> None:
    run_sql_file(__file__, "downgrade")
