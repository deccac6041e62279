"""Small facts about revisions, computed the same way everywhere."""

from __future__ import annotations

from alembic.script import Script


def down_revisions(script: Script) -> list[str]:
    """A revision's parents as a list: ``[]`` for a first revision, several for a merge."""
    down = script.down_revision
    if down is None:
        return []
    return [down] if isinstance(down, str) else list(down)
