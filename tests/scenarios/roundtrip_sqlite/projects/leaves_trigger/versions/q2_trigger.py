"""trigger that trims names"""

from alembic import op

revision = "q2"
down_revision = "q1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TRIGGER trim_name AFTER INSERT ON people BEGIN"
        " UPDATE people SET name = trim(name) WHERE id = NEW.id; END"
    )


def downgrade() -> None:
    pass  # forgets the trigger
