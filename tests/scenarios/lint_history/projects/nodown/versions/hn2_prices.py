"""prices, in SQL, with a downgrade file that holds only comments"""

from runner.sql_files import run_sql_file

revision = "hn2"
down_revision = "hn1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(__file__, "upgrade")


def downgrade() -> None:
    run_sql_file(__file__, "downgrade")
