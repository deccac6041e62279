"""``runner lint`` and squawk side by side, on the same rendered PostgreSQL SQL.

The project ``benchmarks/squawk_revisions/storefront`` holds the kinds of change
real projects make (tables, indexes, defaults, constraints, renames, enum values,
backfills, a safe foreign key, an autocommit block). For each revision this script

1. renders its upgrade SQL offline with the runner's own rendering (PostgreSQL),
   without Alembic's version-table bookkeeping, into ``<revision>.sql``;
2. runs ``squawk --reporter json --assume-in-transaction`` on those files (the
   runner runs each revision in a transaction, as Alembic does on PostgreSQL);
3. runs ``runner lint --format json`` on the project;
4. matches each squawk finding to the runner rules that declare that squawk rule
   (``Rule.squawk`` in the registry) in the same revision, or to a documented reason
   in :data:`REASONS` for the squawk findings the runner leaves out on purpose,

and writes the table to ``benchmarks/RESULTS.md`` (section ``lint-squawk``), with the
rule counts. ``tests/test_lint_squawk.py`` runs the same comparison and fails on
any squawk finding that is neither matched nor explained.

    python benchmarks/bench_lint_squawk.py
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from sqlalchemy.engine import URL

from benchmarks.results import update_section
from runner.db.backends import backend
from runner.db.target import Target
from runner.lint import render
from runner.lint.rules import RULES, sql_rules
from runner.lint.sql import Schema, check_revision
from runner.project import repository
from runner.project.environment import ProjectEnv
from runner.project.sql_files import split_statements

PROJECT = Path(__file__).resolve().parent / "squawk_revisions" / "storefront"
NAME = "storefront"
# Published rule counts of the linters users compare with (squawk: its default rules).
OTHERS = {"squawk": 38, "Atlas": 38, "strong_migrations": 24}

# Squawk findings the runner does not report, and why (each was checked on this SQL).
REASONS = {
    "prefer-robust-stmts": "asks for IF NOT EXISTS / IF EXISTS so a re-run after a partial"
    " failure works; the runner runs each PostgreSQL revision in one transaction, which rolls"
    " back whole, so only statements outside a transaction (autocommit blocks) need it:"
    " concurrent-index-not-idempotent covers those",
    "prefer-bigint-over-int": "flags every int column; the runner flags int keys"
    " (prefer-bigint-key): a count or flag column does not grow with the row count",
    "prefer-bigint-over-smallint": "as prefer-bigint-over-int: only keys are flagged",
    "prefer-text-field": "the runner reports varchar(n) as info (varchar-length) on CREATE"
    " TABLE / ADD COLUMN; squawk also flags it inside ALTER COLUMN TYPE, which"
    " column-type-change already reports",
    "adding-field-with-default": "squawk flags any non-constant default; since PostgreSQL 11"
    " a stable default (now()) is evaluated once, no rewrite: the runner flags volatile ones"
    " (volatile-default) and, before 11, every default (add-column-default-rewrite)",
    "require-timeout-settings": "the runner's missing-lock-timeout/missing-statement-timeout"
    " report it once per revision that needs it (not on new tables), and count the timeouts"
    " declared in targets.toml",
    "require-lock-timeout": "the runner's deploy guard sets lock_timeout (5 s, with bounded"
    " retries) on every target unless targets.toml turns it off, so missing-lock-timeout"
    " reports only targets without it, once per revision, and only for locks that block reads"
    " or writes: CREATE INDEX CONCURRENTLY waits for SHARE UPDATE EXCLUSIVE, which queues no"
    " query behind it; statements on a table created in the same revision need none",
    "require-statement-timeout": "reported once per revision (missing-statement-timeout), for"
    " statements that can run long (index builds, rewrites, scans, DML); CREATE TABLE,"
    " DROP TABLE, DROP INDEX and ALTER TYPE ADD VALUE are quick once they hold their lock,"
    " which the lock timeout bounds",
    "ban-uncommitted-transaction": "an artefact of Alembic's offline rendering of"
    " autocommit_block() (COMMIT, the statements, BEGIN): the runner knows the block and runs"
    " it outside the transaction; a revision's own COMMIT/BEGIN is transaction-control",
    "transaction-nesting": "the same autocommit_block() rendering (its BEGIN reopens the run's"
    " transaction); a revision's own BEGIN is transaction-control",
    "constraint-missing-not-valid": "on ADD UNIQUE / ADD PRIMARY KEY, which PostgreSQL cannot"
    " add NOT VALID: the runner reports their index build under lock (add-unique-constraint,"
    " add-primary-key-index), whose safe rewrite is USING INDEX",
    "ban-drop-column": "reported as drop-column",
}


@dataclass
class Row:
    """One revision: its SQL file, and what each linter found."""

    revision: str
    title: str
    squawk: list[str] = field(default_factory=list)
    runner: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # squawk rules with no runner match


@dataclass
class Comparison:
    rows: list[Row]
    squawk_seconds: float
    runner_seconds: float
    squawk_version: str
    statements: int = 0
    check_ms: float = 0.0  # in-process SQL checks of the whole history, per pass (warm)


def squawk_binary() -> str | None:
    """The squawk CLI from the dev extras (``squawk-cli`` on PyPI), if installed."""
    beside = Path(sys.executable).with_name("squawk")
    return str(beside) if beside.exists() else shutil.which("squawk")


def rendered_sql(root: Path) -> dict[str, str]:
    """Each revision's upgrade SQL, rendered offline for PostgreSQL, minus Alembic's
    version-table statements (neither linter should judge those)."""
    project = repository.Project(NAME, root / "projects" / NAME)
    kind = backend("postgresql")
    penv = ProjectEnv.load(project, Target(URL.create(kind.drivername), "benchmark"))
    scripts = list(penv.script.walk_revisions())
    rendered = render.render(penv, len(scripts))
    table = re.compile(rf"\b{re.escape(rendered.version_table or 'alembic_version')}\b")
    return {
        rev: "".join(f"{s};\n\n" for s in split_statements(sql) if not table.search(s))
        for rev, sql in rendered.sql.items()
    }


def compare(squawk: str, work: Path) -> Comparison:
    """Render, run both linters, match their findings."""
    root = work / "repo"
    shutil.copytree(PROJECT, root / "projects" / NAME)
    repository.write_template(root / "projects" / NAME, NAME)
    sql_dir = work / "sql"
    sql_dir.mkdir()
    files = {}
    for rev, sql in rendered_sql(root).items():
        files[rev] = sql_dir / f"{rev}.sql"
        files[rev].write_text(sql, encoding="utf-8")

    started = time.perf_counter()
    found = subprocess.run(
        [squawk, "--reporter", "json", "--assume-in-transaction", "--pg-version", "16",
         *map(str, files.values())],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    squawk_seconds = time.perf_counter() - started
    hits: dict[str, list[str]] = defaultdict(list)
    for item in json.loads(found.stdout or "[]"):
        hits[Path(item["file"]).stem].append(item["rule_name"])

    started = time.perf_counter()
    ours = subprocess.run(
        [sys.executable, "-m", "runner", "--root", str(root), "lint", NAME, "--format", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    runner_seconds = time.perf_counter() - started
    document = json.loads(ours.stdout)
    (result,) = document["projects"]
    by_revision: dict[str, list[str]] = defaultdict(list)
    for item in result["findings"]:
        by_revision[item["revision"] or ""].append(item["rule"])
    version = subprocess.run([squawk, "--version"], capture_output=True, text=True, check=False)
    statements, check_ms = _check_speed({rev: f.read_text() for rev, f in files.items()})

    titles = {r["revision"]: r["path"] for r in result["revisions"]}
    rows = []
    for rev in files:
        row = Row(rev, titles.get(rev, rev), sorted(hits[rev]), sorted(by_revision[rev]))
        mine = set(row.runner)
        for squawk_rule in row.squawk:
            matched = {r.id for r in RULES.values() if squawk_rule in r.squawk} & mine
            if not matched:
                row.unmatched.append(squawk_rule)
        rows.append(row)
    return Comparison(
        rows, squawk_seconds, runner_seconds, version.stdout.strip(), statements, check_ms
    )


def _check_speed(sql: dict[str, str], passes: int = 20) -> tuple[int, float]:
    """Statements checked, and milliseconds per pass over the whole history (the parse
    cache warm after the first pass, as in a run that lints and plans)."""
    kind = backend("postgresql")
    count = sum(len(split_statements(text)) for text in sql.values())
    started = time.perf_counter()
    for _ in range(passes):
        schema = Schema()
        for rev, text in sql.items():
            check_revision(rev, text, kind, "alembic_version", None, schema)
    return count, (time.perf_counter() - started) * 1000 / passes


def mapping() -> dict[str, list[str]]:
    """squawk rule -> the runner rules that cover it, from the registry."""
    out: dict[str, list[str]] = defaultdict(list)
    for rule in RULES.values():
        for name in rule.squawk:
            out[name].append(rule.id)
    return dict(sorted(out.items()))


def report(result: Comparison) -> str:
    lines = [
        "## Lint side by side with squawk",
        "",
        f"{len(result.rows)} realistic revisions (benchmarks/squawk_revisions/storefront),"
        " rendered offline to PostgreSQL SQL by the runner; squawk"
        f" ({result.squawk_version}, `--assume-in-transaction --pg-version 16`) on the SQL"
        " files, `runner lint --format json` on the project. Measured by"
        " `python benchmarks/bench_lint_squawk.py`"
        f" (squawk {result.squawk_seconds:.2f} s, runner lint {result.runner_seconds:.2f} s"
        " including Python start-up and rendering); the SQL checks alone take"
        f" {result.check_ms:.1f} ms for the {result.statements} statements of the history"
        " (in-process, per pass, parse cache warm).",
        "",
        f"Rule count: runner lint {len(sql_rules())} SQL rules (PostgreSQL and MySQL/MariaDB;"
        f" +{len(RULES) - len(sql_rules())} history, marker and rendering rules); "
        + ", ".join(f"{name} {count}" for name, count in OTHERS.items())
        + ". Every rule: docs/lint-rules.md.",
        "",
        "| revision | squawk | runner lint | squawk findings without a runner finding |",
        "| --- | --- | --- | --- |",
    ]
    for row in result.rows:
        unmatched = ", ".join(f"`{u}` (see below)" for u in sorted(set(row.unmatched))) or "-"
        lines.append(
            f"| {row.title} | {', '.join(row.squawk) or '-'} | {', '.join(row.runner) or '-'}"
            f" | {unmatched} |"
        )
    lines += ["", "squawk rule -> runner rules (from `Rule.squawk` in the registry):", ""]
    lines += [f"- `{name}`: {', '.join(ids)}" for name, ids in mapping().items()]
    unexplained = sorted({u for row in result.rows for u in row.unmatched})
    lines += ["", "Why the runner leaves out the unmatched squawk findings:", ""]
    lines += [f"- `{name}`: {REASONS.get(name, 'NOT EXPLAINED')}" for name in unexplained]
    return "\n".join(lines)


def main() -> int:
    squawk = squawk_binary()
    if squawk is None:
        print("squawk is not installed: pip install squawk-cli (the dev extras)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as work:
        result = compare(squawk, Path(work))
    text = report(result)
    update_section("lint-squawk", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
