<%!
def literal(value):
    """A revision id, a tuple of them or None, written as ruff format writes it."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return '"%s"' % value
    items = ", ".join('"%s"' % item for item in value)
    return "(%s,)" % items if len(value) == 1 else "(%s)" % items
%>"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}${"" if down_revision else "base"}
Create Date: ${create_date}
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
% if imports:
${imports}
% endif
% if sql_files:

from runner.sql_files import run_sql_file
% endif

# Revision identifiers, used by Alembic.
revision: str = ${literal(up_revision)}
down_revision: str | Sequence[str] | None = ${literal(down_revision)}
branch_labels: str | Sequence[str] | None = ${literal(branch_labels)}
depends_on: str | Sequence[str] | None = ${literal(depends_on)}


% if sql_files:
def upgrade() -> None:
    # Runs the statements of the .upgrade.sql file next to this one.
    run_sql_file(__file__, "upgrade")


def downgrade() -> None:
    # Runs the statements of the .downgrade.sql file next to this one.
    run_sql_file(__file__, "downgrade")
% else:
def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
% endif
