"""people, written by hand: lower-case types, odd layout"""

from alembic import op

revision = "q1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        'CREATE TABLE "people" (id int NOT NULL,\n  name varchar(50) NOT NULL,  PRIMARY KEY (id))'
    )
    op.execute("CREATE TABLE pets (id int NOT NULL PRIMARY KEY, owner int REFERENCES people)")


def downgrade() -> None:
    op.execute("DROP TABLE pets")
    op.execute("DROP TABLE people")
