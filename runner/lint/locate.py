"""Where in a revision a finding is: the file and line a reviewer should look at.

Code review tools (GitLab Code Quality, GitHub code scanning) pin a finding to a
line. Lint checks the *rendered* SQL, so the line has to be found again in the
source, in this order:

1. the statement's text in the paired ``.upgrade.sql`` file (SQL revisions);
2. the statement's text in a string literal of ``upgrade()`` (``op.execute("...")``);
3. the ``op.*`` call that renders it: the call whose operation fits the statement's
   kind (``DROP TABLE`` -> ``op.drop_table``) and whose string arguments (table,
   column, index names) appear in it, preferring calls after the one matched last,
   since Alembic renders the calls in order;
4. the ``def upgrade`` line; line 1 when even that is missing.

Text is compared with whitespace collapsed and case folded, so re-indenting a
revision moves the line but never loses it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from runner.project.sql_files import sql_file_path

# Statement kind (matched on its normalised text) -> the op calls that render it.
_KINDS: list[tuple[re.Pattern[str], frozenset[str]]] = [
    (re.compile(p), frozenset(ops))
    for p, ops in [
        (r"^create (unique )?index", {"create_index"}),
        (r"^drop index", {"drop_index"}),
        (r"^create table", {"create_table", "batch_alter_table"}),
        (r"^drop table", {"drop_table", "batch_alter_table"}),
        (r"^(alter table \S+ rename to|rename table)", {"rename_table", "batch_alter_table"}),
        (r"^alter table .*\bdrop column\b", {"drop_column"}),
        (
            r"^alter table .*\bdrop (constraint|foreign key|primary key|index|check)\b",
            {"drop_constraint", "drop_index"},
        ),
        (r"^alter table .*\badd (constraint )?\S* ?foreign key", {"create_foreign_key"}),
        (r"^alter table .*\badd (constraint \S+ )?unique", {"create_unique_constraint"}),
        (r"^alter table .*\badd (constraint \S+ )?primary key", {"create_primary_key"}),
        (r"^alter table .*\badd (constraint \S+ )?check", {"create_check_constraint"}),
        (r"^alter table .*\badd\b", {"add_column"}),
        (r"^alter table .*\b(alter|modify|change|rename column|rename)\b", {"alter_column"}),
        (r"^(insert|copy)", {"bulk_insert", "batch_alter_table"}),
        (r"^comment on", {"create_table_comment", "alter_column"}),
    ]
]
_OPERATIONS = frozenset(op for _, ops in _KINDS for op in ops) | {"execute"}
_WORD = re.compile(r"[a-z_][a-z0-9_$]*")


@dataclass(frozen=True)
class Place:
    """A line in a file; ``file`` is relative to the project folder like finding paths."""

    file: str
    line: int


@dataclass
class _Call:
    line: int
    operation: str
    words: frozenset[str]


@dataclass
class _Literal:
    line: int
    text: str  # normalised
    lines: list[int]  # source line of each character of ``text``


@dataclass
class RevisionSource:
    """One revision file, read once, with a cursor over its ``op`` calls."""

    shown: str  # the revision file as findings name it (``versions/x.py``)
    tree: ast.Module | None
    sql_shown: str | None = None
    sql_text: _Literal | None = None
    calls: list[_Call] = field(default_factory=list)
    literals: list[_Literal] = field(default_factory=list)
    cursor: int = 0

    @classmethod
    def read(cls, path: Path, shown: str, tree: ast.Module | None) -> RevisionSource:
        source = cls(shown, tree)
        sql_path = sql_file_path(path, "upgrade")
        if sql_path.is_file():
            source.sql_shown = str(Path(shown).with_name(sql_path.name))
            source.sql_text = _normalise(sql_path.read_text(encoding="utf-8"), 1)
        upgrade = function(tree, "upgrade")
        if upgrade is not None:
            source.calls, source.literals = _calls_and_literals(upgrade)
        return source

    def statement(self, statement: str) -> Place:
        """Where ``statement`` (as rendered, possibly shortened with ``...``) comes from."""
        needle = _normalise(statement.removesuffix("..."), 1).text.rstrip(";").strip()
        needle = needle[:120]
        if self.sql_text is not None and self.sql_shown is not None:
            line = _find(self.sql_text, needle)
            if line is not None:
                return Place(self.sql_shown, line)
        for literal in self.literals:
            line = _find(literal, needle)
            if line is not None:
                return Place(self.shown, line)
        call = self._best_call(needle)
        if call is not None:
            return Place(self.shown, call.line)
        return self.definition("upgrade")

    def definition(self, name: str) -> Place:
        """The ``def name`` line, else line 1."""
        found = function(self.tree, name)
        return Place(self.shown, found.lineno if found is not None else 1)

    def assignment(self, name: str) -> Place:
        """The module-level ``name = ...`` line (``revision``, ``down_revision``), else 1."""
        for node in self.tree.body if self.tree is not None else []:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return Place(self.shown, node.lineno)
        return Place(self.shown, 1)

    def _best_call(self, needle: str) -> _Call | None:
        operations = next((ops for kind, ops in _KINDS if kind.search(needle)), frozenset())
        words = set(_WORD.findall(needle))
        best: tuple[int, int] | None = None
        chosen = None
        for index, call in enumerate(self.calls):
            score = 3 * (call.operation in operations) + len(call.words & words)
            if score == 0 or (call.operation == "execute" and not operations and not call.words):
                continue
            # Calls from the cursor on come first, in order; earlier ones only after them.
            distance = index - self.cursor if index >= self.cursor else len(self.calls) + index
            key = (score, -distance)
            if best is None or key > best:
                best, chosen = key, index
        if chosen is None:
            return None
        self.cursor = chosen
        return self.calls[chosen]


def function(tree: ast.Module | None, name: str) -> ast.FunctionDef | None:
    """The module-level function ``name`` of ``tree``."""
    for node in tree.body if tree is not None else []:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _calls_and_literals(upgrade: ast.FunctionDef) -> tuple[list[_Call], list[_Literal]]:
    calls = []
    literals = []
    for node in ast.walk(upgrade):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _OPERATIONS:
                words = frozenset(
                    w
                    for arg in [*node.args, *(k.value for k in node.keywords)]
                    for c in ast.walk(arg)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                    for w in _WORD.findall(c.value.lower())
                )
                calls.append(_Call(node.lineno, node.func.attr, words))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # A literal's own text starts on its first line (triple quotes keep newlines).
            literals.append(_normalise(node.value, node.lineno))
    calls.sort(key=lambda c: c.line)
    literals.sort(key=lambda lit: lit.line)
    return calls, literals


def _normalise(text: str, first_line: int) -> _Literal:
    """``text`` lower-cased with each run of whitespace one space, and each character's
    source line (so a match in the normalised text gives a line in the file)."""
    out: list[str] = []
    lines: list[int] = []
    line = first_line
    pending_space = False
    for char in text:
        if char.isspace():
            pending_space = bool(out)
            if char == "\n":
                line += 1
            continue
        if pending_space:
            out.append(" ")
            lines.append(line)
            pending_space = False
        out.append(char.lower())
        lines.append(line)
    return _Literal(first_line, "".join(out), lines)


def _find(haystack: _Literal, needle: str) -> int | None:
    if not needle:
        return None
    position = haystack.text.find(needle)
    return haystack.lines[position] if position >= 0 else None
