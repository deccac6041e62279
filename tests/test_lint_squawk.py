"""runner lint against squawk on the same rendered PostgreSQL SQL (issue 17).

The realistic revisions of benchmarks/squawk_revisions/storefront are rendered
by the runner, squawk (``squawk-cli``, in the dev extras) lints the SQL files and
``runner lint`` the project; every squawk finding must have a runner finding of
a rule that declares that squawk rule (``Rule.squawk``) in the same revision, or a
documented reason in ``benchmarks/bench_lint_squawk.py``'s ``REASONS``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks import bench_lint_squawk as bench
from runner.lint.rules import RULES

SQUAWK = bench.squawk_binary()


@pytest.fixture
def squawk() -> str:
    if SQUAWK is None:
        if os.environ.get("CI"):
            pytest.fail("squawk is not installed under CI: the dev extras install squawk-cli")
        pytest.skip("squawk is not installed (pip install squawk-cli, or the dev extras)")
    return SQUAWK


def test_every_squawk_finding_has_a_runner_finding_or_a_reason(squawk: str, tmp_path: Path) -> None:
    result = bench.compare(squawk, tmp_path)

    assert len(result.rows) >= 20
    hit = {rule for row in result.rows for rule in row.squawk}
    assert len(hit) >= 15, hit  # squawk really ran on real SQL
    unexplained = {
        (row.revision, rule)
        for row in result.rows
        for rule in row.unmatched
        if rule not in bench.REASONS
    }
    assert not unexplained, unexplained
    # The matching is by the registry: each squawk rule hit is named by a runner rule
    # or explained.
    declared = {name for rule in RULES.values() for name in rule.squawk}
    assert hit <= declared | set(bench.REASONS), hit - declared
    # Where the runner is stricter the table says so too: the safe revision passes both.
    guarded = next(row for row in result.rows if "guarded_column" in row.title)
    assert guarded.squawk == []
    assert guarded.runner == []


def test_report_has_the_table_and_the_counts(squawk: str, tmp_path: Path) -> None:
    text = bench.report(bench.compare(squawk, tmp_path))
    assert "| revision | squawk | runner lint |" in text
    assert "squawk 38, Atlas 38, strong_migrations 24" in text
    assert "NOT EXPLAINED" not in text
