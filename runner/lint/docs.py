"""Write ``docs/lint-rules.md`` from the rule registry: ``python -m runner.lint.docs``.

The registry (:mod:`runner.lint.rules`) is the single source; the page is
generated and committed, and ``tests/test_lint_docs.py`` fails when the committed
page differs from what this module generates (run it again after changing a rule).
``--check`` only compares, and exits 1 when the page is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from runner.db.backends import KNOWN
from runner.lint.rule import Rule
from runner.lint.rules import RULES, sql_rules

PAGE = Path(__file__).resolve().parents[2] / "docs" / "lint-rules.md"
# family -> section title, in page order
_FAMILIES = {
    "destructive": "Data loss and breaking changes",
    "locking": "Locks and rewrites (PostgreSQL)",
    "types": "Column types and names",
    "online-ddl": "Online DDL (MySQL and MariaDB)",
    "transactions": "Transactions",
    "history": "History and markers",
    "meta": "Rendering",
}


def generate() -> str:
    """The whole page, from the registry."""
    sql = sql_rules()
    defaults = ", ".join(
        f"{label} {default}" for b in KNOWN for _, label, _, default in b.server_flavours
    )
    lines = [
        "# Lint rules",
        "",
        "<!-- Generated from runner/lint/rules.py by `python -m runner.lint.docs`:"
        " do not edit by hand. -->",
        "",
        f"`runner lint` has {len(sql)} rules on the SQL of the revisions (PostgreSQL,"
        f" MySQL/MariaDB, SQLite) and {len(RULES) - len(sql)} on the history, the"
        " markers and the rendering. Rule ids are public and never renamed: they appear in"
        " every report and in `# lint: accept <rule>: <reason>` markers.",
        "",
        "Severity decides the exit code: an unaccepted `error` fails `runner lint`"
        " (`--fail-on warning`: warnings too). Where a rule depends on the server version, lint"
        " uses `server_version` from the project's `targets.toml`; without one it assumes "
        f"{defaults} (a MySQL version of 10 or more is MariaDB). A version without a patch"
        " level means the newest of its series (`8.0` is 8.0.x, latest).",
        "",
        "| rule | severity | dialects | family |",
        "| --- | --- | --- | --- |",
    ]
    ordered = sorted(RULES.values(), key=lambda r: (list(_FAMILIES).index(r.family), r.id))
    lines += [
        f"| [`{r.id}`](#{r.id}) | {r.severity} | {_dialects(r)} | {_FAMILIES[r.family]} |"
        for r in ordered
    ]
    for family, title in _FAMILIES.items():
        members = [r for r in ordered if r.family == family]
        lines += ["", f"## {title}"]
        for rule in members:
            lines += ["", *_section(rule)]
    return "\n".join(lines) + "\n"


def _dialects(rule: Rule) -> str:
    return ", ".join(rule.dialects) if rule.dialects else "all"


def _section(rule: Rule) -> list[str]:
    out = [f"### {rule.id}", "", f"**{rule.summary}.** Severity `{rule.severity}`.", ""]
    facts = [f"- Dialects: {_dialects(rule)}"]
    if rule.applies:
        servers = "; ".join(
            a.shown() + (f" (severity `{a.severity}`)" if a.severity else "") for a in rule.applies
        )
        facts.append(f"- Servers: {servers}")
    if rule.lock:
        facts.append(f"- Lock: {rule.lock}")
    if rule.grows_with_table:
        facts.append(
            "- Grows with the table: a plan that reads the live table raises it to"
            " an error on a large table and lowers a warning to info on a small one"
        )
    if rule.squawk:
        facts.append(f"- squawk: {', '.join(f'`{s}`' for s in rule.squawk)}")
    out += facts
    if rule.why:
        out += ["", f"Why it hurts: {rule.why}"]
    if rule.rewrite:
        out += ["", f"Safe rewrite: {rule.rewrite}"]
    return out


def main(argv: Sequence[str]) -> int:
    text = generate()
    if "--check" in argv:
        current = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
        if current != text:
            print(f"{PAGE} is stale: run python -m runner.lint.docs", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE} ({len(RULES)} rules)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
