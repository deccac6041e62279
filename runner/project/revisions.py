"""Small facts about revisions, computed the same way everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic.script import Script, ScriptDirectory

from runner.output.results import describe_revs


def is_known(script: ScriptDirectory, rev: str) -> bool:
    """This checkout has a revision file for ``rev`` (an id or a unique prefix)."""
    try:
        return script.get_revision(rev) is not None
    except Exception:  # alembic raises several kinds for an unknown or ambiguous id
        return False


def down_revisions(script: Script) -> list[str]:
    """A revision's parents as a list: ``[]`` for a first revision, several for a merge."""
    down = script.down_revision
    if down is None:
        return []
    return [down] if isinstance(down, str) else list(down)


def calls_autocommit_block(script: Script, upgrade: bool | None = None) -> bool:
    """Whether the revision's ``upgrade()`` (``upgrade=True``), ``downgrade()``
    (``False``) or either (``None``) calls ``autocommit_block``.

    Read from the compiled functions' names (no file access): catches the usual
    ``op.get_context().autocommit_block()``, not a call hidden in a helper.
    """
    names = {True: ("upgrade",), False: ("downgrade",), None: ("upgrade", "downgrade")}[upgrade]
    module = getattr(script, "module", None)
    for name in names:
        code = getattr(getattr(module, name, None), "__code__", None)
        if code is not None and "autocommit_block" in code.co_names:
            return True
    return False


def describe_move(
    is_upgrade: bool, source: Sequence[str], destination: Sequence[str], message: str = ""
) -> str:
    """``upgrade base -> r1, create foo``: one step, for people (``base`` named as such)."""
    verb = "upgrade" if is_upgrade else "downgrade"
    text = f"{verb} {describe_revs(source)} -> {describe_revs(destination)}"
    return f"{text}, {message}" if message else text


def describe_step(step: Any) -> str:
    """:func:`describe_move` of an Alembic step about to run (a ``RevisionStep``)."""
    if not isinstance(getattr(step, "revision", None), Script):
        return str(step)  # a stamp step: Alembic's own words
    return describe_move(
        not step.is_downgrade, step.from_revisions, step.to_revisions, (step.doc or "").strip()
    )
