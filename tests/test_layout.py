"""The shape of runner/: stages import only the stages below them, dialect facts live in
one table, and the import paths revision files and env.py files use keep working.

Read from the source with :mod:`ast` (imports inside functions count too), so a
lazy import cannot hide a dependency that runs the wrong way.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
PACKAGE = REPO / "runner"

# Lowest first. A module may import its own stage and any stage before it, never a
# later one; lint and roundtrip are siblings and may not import each other.
STAGES: list[set[str]] = [
    {"runner", "runner.errors"},
    {"runner.output"},
    {"runner.db"},
    {"runner.project", "runner.contract"},
    {"runner.run"},
    {"runner.lint"},
    {"runner.roundtrip"},
    {"runner.adopt"},  # schemas: catalogs, baselines, drift (reads roundtrip's snapshots)
    {
        "runner.adopt.verbs",  # adopt, drift, diff: the verbs' functions, over commands
        "runner.commands",
        "runner.fanout",
        "runner.authoring",
        "runner.options",
        "runner.cli",
        "runner.__main__",
        "runner.targets",
        "runner.sql_files",
        "runner.ci",  # pipelines: reads projects and targets, writes CI files
    },
]
SIBLINGS = {frozenset({"runner.lint", "runner.roundtrip"})}
# What the backend table knows; nobody else compares these.
DIALECT_NAMES = {"sqlite", "postgresql", "postgres", "mysql", "mariadb"}
BACKEND_TABLE = PACKAGE / "db" / "backends.py"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stage_of(module: str) -> int:
    """Index in :data:`STAGES` of the longest matching prefix."""
    best, index = "", -1
    for i, names in enumerate(STAGES):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, index = name, i
    assert index >= 0, f"{module} belongs to no stage: add it to STAGES"
    return index


def imports(path: Path) -> set[str]:
    """Every runner module ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("runner")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("runner"):
            found.add(node.module)
            # `from runner import commands` imports runner.commands
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts)


def test_every_module_has_a_stage() -> None:
    for path in SOURCES:
        stage_of(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_no_module_imports_a_later_stage(path: Path) -> None:
    module = module_name(path)
    mine = stage_of(module)
    known = {module_name(p) for p in SOURCES}
    for imported in sorted(imports(path)):
        if imported not in known:
            continue  # `from runner.x import name`: the module is runner.x, checked too
        theirs = stage_of(imported)
        assert theirs <= mine, f"{module} (stage {mine}) imports {imported} (stage {theirs})"
        pair = frozenset({_stage_name(module), _stage_name(imported)})
        assert pair not in SIBLINGS, f"{module} imports its sibling {imported}"


def _stage_name(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _dialect_constants(node: ast.AST) -> list[str]:
    """Dialect names written as literals in ``node`` (a string, or a collection of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if node.value in DIALECT_NAMES else []
    if isinstance(node, (ast.Set, ast.Tuple, ast.List)):
        return [n for element in node.elts for n in _dialect_constants(element)]
    return []


@pytest.mark.parametrize("path", [p for p in SOURCES if p != BACKEND_TABLE], ids=module_name)
def test_no_dialect_name_is_compared_outside_the_backend_table(path: Path) -> None:
    """Comparisons, membership tests and dict keys naming a dialect are facts that
    belong in runner/db/backends.py, asked for by attribute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                found += [(node.lineno, n) for n in _dialect_constants(side)]
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    found += [(node.lineno, n) for n in _dialect_constants(key)]
        elif isinstance(node, ast.MatchValue):
            found += [(node.lineno, n) for n in _dialect_constants(node.value)]
    assert not found, f"{module_name(path)} compares dialect names: {found}"


def test_stable_import_paths_for_revision_and_env_files(tmp_path: Path) -> None:
    """What files written by earlier versions import must keep importing."""
    code = (
        "from runner.sql_files import run_sql_file, split_statements\n"
        "from runner.targets import url_for_plain_alembic\n"
        "from runner import contract\n"
        "assert callable(run_sql_file) and callable(url_for_plain_alembic)\n"
        "assert split_statements('SELECT 1; SELECT 2') == ['SELECT 1', 'SELECT 2']\n"
        "assert contract.CONNECTION == 'connection'\n"
        "assert contract.TRANSACTION_PER_MIGRATION == 'transaction_per_migration'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_help_imports_neither_sqlalchemy_nor_alembic() -> None:
    code = (
        "import sys\n"
        "from runner import cli\n"
        "try:\n"
        "    cli.main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in"
        " {'sqlalchemy', 'alembic', 'sqlglot', 'psycopg', 'pymysql'})\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
