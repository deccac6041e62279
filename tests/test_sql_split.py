"""Statement splitting: the plain scan gives exactly what sqlparse's splitter gives.

``split_statements`` takes a fast scan for scripts without procedural blocks and
hands everything else to sqlparse. These tests hold the scan to the reference on
the lint cases and on a few thousand generated scripts full of the things that
decide where a statement ends (quotes, comments, parentheses, stray semicolons).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from runner.project.sql_files import _split_plainly, _split_with_sqlparse, split_statements

CASES = Path(__file__).parent / "lint_cases"

# Pieces a generated script is made of: each can change where a statement ends.
_PIECES = [
    "CREATE TABLE t (a int, b varchar(20))",
    "INSERT INTO t VALUES (1, 'x;y')",
    "INSERT INTO t VALUES ('it''s; fine')",
    'SELECT "semi;colon" FROM t',
    "SELECT `back;tick` FROM t",
    "UPDATE t SET a = (SELECT max(a) FROM t)",
    "(",
    ")",
    ";",
    ";;",
    " ",
    "\n",
    "\r\n",
    "\t",
    "-- a comment; with a semicolon\n",
    "--\n",
    "-- last line without newline",
    "/* block; comment */",
    "/* multi\nline */",
    "SELECT 1",
    "ALTER TABLE t ADD COLUMN c int",
    "DROP TABLE IF EXISTS t",
    "CREATE INDEX ix ON t (a)",
    "'",
    '"',
    "x",
    "CASE",
    "end_date",
    "weekend",
    "BEGIN",
    "END",
    "$$",
    "\\'",
    "# hash comment\n",
    "[name]",
    "a[1]",
    "''",
    '"a""b"',
    "--+ hint\n",
    "'multi\nline;'",
    "\u00a0",
    ") ;",
    "(;)",
    "x;\n-- c\n-- d\nSELECT 2",
    "x; -- same line\n-- next line\nSELECT 2",
    "END IF",
    "begin",
    "Go",
    "DO",
    "IF",
    "e'x'",
    "AT TIME ZONE 'UTC'",
    "\f",
]


def _lint_case_scripts() -> list[str]:
    scripts = []
    for path in sorted(CASES.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in (data.get("fire") or []) + (data.get("pass") or []):
            sql = case.get("sql")
            if not sql:
                continue  # a case written as a revision file, not as SQL
            statements = sql if isinstance(sql, list) else [sql]
            for joiner in (";\n", "; -- note\n", ";\n\n/* c */ "):
                scripts.append(joiner.join(statements) + ";")
    return scripts


def test_plain_scan_matches_sqlparse_on_the_lint_cases() -> None:
    scripts = _lint_case_scripts()
    plain = 0
    for script in scripts:
        fast = _split_plainly(script)
        if fast is not None:
            plain += 1
            assert fast == _split_with_sqlparse(script), script
    # The scan must actually be used on ordinary DDL, or it speeds nothing up.
    assert plain > len(scripts) * 0.8, (plain, len(scripts))


def test_plain_scan_matches_sqlparse_on_generated_scripts() -> None:
    rng = random.Random(20261201)
    plain = 0
    for _ in range(4000):
        script = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 14)))
        fast = _split_plainly(script)
        if fast is not None:
            plain += 1
            assert fast == _split_with_sqlparse(script), repr(script)
    assert plain > 1000, plain


@pytest.mark.parametrize(
    "script",
    [
        "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql; SELECT 1;",
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END; SELECT 1",
        "INSERT INTO t VALUES ('a\\';b'); SELECT 1",
        "SELECT 'unterminated; SELECT 1",
        "SELECT 1 /* unterminated; SELECT 2",
    ],
)
def test_what_the_scan_does_not_handle_goes_to_sqlparse(script: str) -> None:
    assert _split_plainly(script) is None
    assert split_statements(script) == _split_with_sqlparse(script)


def test_alembic_offline_output_takes_the_plain_scan() -> None:
    rendered = (
        "-- Running upgrade  -> r1\n\nCREATE TABLE t (\n    id INTEGER NOT NULL,\n"
        "    v VARCHAR(20),\n    PRIMARY KEY (id)\n);\n\nINSERT INTO t (id, v) VALUES (1, 'x');"
        "\n\nUPDATE alembic_version SET version_num='r1' WHERE alembic_version.version_num"
        " = 'r0';\n\n"
    )
    assert _split_plainly(rendered) == _split_with_sqlparse(rendered)
    assert len(split_statements(rendered)) == 3
