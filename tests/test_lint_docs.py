"""docs/lint-rules.md is generated from the rule registry and must match it."""

from __future__ import annotations

import subprocess
import sys

from runner.lint import docs
from runner.lint.rules import RULES, sql_rules


def test_committed_rule_page_matches_the_registry() -> None:
    committed = docs.PAGE.read_text(encoding="utf-8")
    assert committed == docs.generate(), "docs/lint-rules.md is stale: python -m runner.lint.docs"


def test_page_lists_every_rule_with_its_facts() -> None:
    page = docs.generate()
    for rule in RULES.values():
        assert f"### {rule.id}\n" in page
        assert rule.rewrite, f"{rule.id} has no safe rewrite"
        assert rule.why, f"{rule.id} does not say why it hurts"
    assert f"`runner lint` has {len(sql_rules())} rules on the SQL" in page
    assert len(sql_rules()) >= 45


def test_check_mode_passes_on_the_committed_page() -> None:
    ok = subprocess.run([sys.executable, "-m", "runner.lint.docs", "--check"], check=False)
    assert ok.returncode == 0


def test_readme_states_the_rule_counts() -> None:
    readme = (docs.PAGE.parent.parent / "README.md").read_text(encoding="utf-8")
    history = len(RULES) - len(sql_rules())
    assert f"There are {len(sql_rules())} rules on the SQL" in readme
    assert f"and {history} on the\nhistory" in readme
