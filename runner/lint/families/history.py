"""Rules about the history and the markers: read from the revision files, no SQL."""

from __future__ import annotations

from dataclasses import replace

from runner.lint.rule import Rule

_FAMILY = "history"

RULES = [
    Rule(
        "multiple-heads",
        "error",
        "more than one head and lint_allow_branches is not set",
        why="`upgrade heads` applies the branches in an order nobody chose, and `upgrade head`"
        " refuses to run.",
        rewrite="Join the heads with `runner merge NAME`, or set `lint_allow_branches = true`"
        " in alembic.ini when the branches are meant to stay apart.",
    ),
    Rule(
        "duplicate-revision",
        "error",
        "two revision files carry the same revision id",
        why="Alembic keeps one of them and silently ignores the other.",
        rewrite="Give one file a new id (`runner revision` makes one) and fix its children.",
    ),
    Rule(
        "unknown-down-revision",
        "error",
        "down_revision names a revision that does not exist",
        why="The history does not load: no command can run on the project.",
        rewrite="Point down_revision at an existing revision (`runner history NAME`).",
    ),
    Rule(
        "broken-history",
        "error",
        "Alembic cannot build the revision map",
        why="No command can run on the project until the history loads.",
        rewrite="Fix what the message names (a cycle, a missing file).",
    ),
    Rule(
        "unreadable-revision",
        "error",
        "a revision file has no literal revision id or no parse",
        why="The runner and Alembic cannot tell where the revision sits in the history.",
        rewrite='Fix the syntax error, or write `revision = "<id>"` as a literal.',
    ),
    Rule(
        "no-downgrade",
        "error",
        "downgrade() does nothing and no irreversible marker says why",
        why="A rollback runs the empty downgrade, stamps the older revision and leaves the"
        " schema as it was: the version table then lies.",
        rewrite="Write the downgrade, or mark the file `# lint: irreversible: <reason>`.",
    ),
    Rule(
        "bad-marker",
        "error",
        "a '# lint:' marker without a reason, or naming no known rule",
        why="A marker with a typo accepts nothing and hides the reviewer's intent.",
        rewrite="`# lint: accept <rule>: <reason>` with a rule id from this page.",
    ),
    Rule(
        "unused-accept",
        "info",
        "an accept marker for a rule that found nothing here",
        why="A stale acceptance would silently accept a future finding of that rule.",
        rewrite="Remove the marker.",
    ),
]
RULES = [replace(r, family=_FAMILY, sql=False) for r in RULES]
