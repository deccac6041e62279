"""History checks of ``runner lint``, read statically from the revision files.

Nothing here imports a revision or needs Alembic's revision map: a history that
Alembic refuses to load (a ``down_revision`` pointing nowhere, a duplicated id)
is exactly what must be reported, so each file is parsed with :mod:`ast` and its
literal ``revision`` / ``down_revision`` assignments are read.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from alembic.util import coerce_resource_to_filename

from runner.lint.rules import finding
from runner.output.results import LintFinding
from runner.project.environment import ProjectEnv
from runner.project.sql_files import split_statements, sql_file_path

_IRREVERSIBLE_HINT = "write one, or mark the file '# lint: irreversible: <reason>'"


@dataclass(frozen=True)
class RevisionFile:
    """A revision file as read statically; ``problem`` is why it could not be."""

    path: Path
    shown: str
    revision: str | None
    down_revisions: tuple[str, ...]
    tree: ast.Module | None
    problem: str | None = None


def version_dirs(penv: ProjectEnv) -> list[Path]:
    """Where the project's revision files live (``version_locations``, else ``versions/``)."""
    locations = penv.config.get_version_locations_list()
    if not locations:
        script_location = penv.config.get_main_option("script_location") or "."
        locations = [str(Path(coerce_resource_to_filename(script_location)) / "versions")]
    return [Path(coerce_resource_to_filename(loc)) for loc in locations]


def scan(penv: ProjectEnv) -> list[RevisionFile]:
    """Every revision file of the project, parsed, in a stable (path) order."""
    recursive = (penv.config.get_main_option("recursive_version_locations") or "").lower()
    files: list[Path] = []
    for folder in version_dirs(penv):
        if folder.is_dir():
            found = (
                folder.rglob("*.py")
                if recursive in {"true", "1", "yes", "on"}
                else folder.glob("*.py")
            )
            files += sorted(p for p in found if not p.name.startswith(("__init__", ".#")))
    project_dir = penv.project.path.resolve()
    folders: dict[Path, Path] = {}  # each folder resolved once, not once per file
    return [_read(path, _shown(path, project_dir, folders)) for path in files]


def _shown(path: Path, project_dir: Path, folders: dict[Path, Path]) -> str:
    """``path`` relative to the (resolved) project folder, as findings name it."""
    if path.parent not in folders:
        folders[path.parent] = path.parent.resolve()
    real = path.resolve() if path.is_symlink() else folders[path.parent] / path.name
    try:
        return str(real.relative_to(project_dir))
    except ValueError:
        return str(path)


def _read(path: Path, shown: str) -> RevisionFile:
    """Parse one file and pull out its literal revision identifiers."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        return RevisionFile(path, shown, None, (), None, f"line {exc.lineno}: {exc.msg}")
    values = _literal_assignments(tree, {"revision", "down_revision"})
    revision = values.get("revision")
    if not isinstance(revision, str):
        return RevisionFile(path, shown, None, (), tree, "no literal 'revision = \"<id>\"'")
    down = values.get("down_revision")
    if isinstance(down, str):
        downs: tuple[str, ...] = (down,)
    elif isinstance(down, (tuple, list)):
        downs = tuple(str(d) for d in down)
    else:
        downs = ()
    return RevisionFile(path, shown, revision, downs, tree)


def _literal_assignments(tree: ast.Module, names: set[str]) -> dict[str, object]:
    """Module-level ``name = <literal>`` (annotated or not) for the given names."""
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                continue  # computed at import time: we cannot know it statically
    return values


def graph_findings(files: list[RevisionFile], allow_branches: bool) -> list[LintFinding]:
    """Unreadable files, duplicate ids, dangling ``down_revision`` and extra heads."""
    findings = [
        finding("unreadable-revision", f"{f.shown}: {f.problem}", path=f.shown)
        for f in files
        if f.problem
    ]
    by_id: dict[str, list[RevisionFile]] = defaultdict(list)
    for f in files:
        if f.revision:
            by_id[f.revision].append(f)
    for rev, same in by_id.items():
        for f in same if len(same) > 1 else []:
            others = ", ".join(o.shown for o in same if o is not f)
            message = f"revision id {rev} of {f.shown} is also used by {others}"
            findings.append(finding("duplicate-revision", message, revision=rev, path=f.shown))
    referenced = {down for f in files for down in f.down_revisions}
    for f in files:
        for down in f.down_revisions:
            if down not in by_id:
                findings.append(
                    finding(
                        "unknown-down-revision",
                        f"down_revision {down} of {f.revision} does not exist",
                        revision=f.revision,
                        path=f.shown,
                    )
                )
    heads = sorted(set(by_id) - referenced)
    dangling = any(f.rule == "unknown-down-revision" for f in findings)
    # A dangling down_revision starts a second root; its own finding says more.
    if len(heads) > 1 and not allow_branches and not dangling:
        findings.append(
            finding(
                "multiple-heads",
                f"{len(heads)} heads ({', '.join(heads)}): merge them (alembic merge), or set"
                " 'lint_allow_branches = true' in alembic.ini if the branches are intended",
            )
        )
    return findings


def downgrade_findings(files: list[RevisionFile]) -> list[LintFinding]:
    """``no-downgrade`` for each revision whose ``downgrade()`` does nothing."""
    findings = []
    for f in files:
        if f.tree is None or f.revision is None:
            continue
        if len(f.down_revisions) > 1 and _function_does_nothing(f.tree, "upgrade"):
            continue  # a merge revision: joining heads changes no schema, nothing to undo
        why = _missing_downgrade(f)
        if why:
            findings.append(
                finding(
                    "no-downgrade",
                    f"{why}: {_IRREVERSIBLE_HINT}",
                    revision=f.revision,
                    path=f.shown,
                )
            )
    return findings


def _function_does_nothing(tree: ast.Module, name: str) -> bool:
    """The module's function ``name`` exists and only passes (or has a docstring)."""
    function = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None
    )
    return function is not None and all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in function.body
    )


def _missing_downgrade(f: RevisionFile) -> str | None:
    """Why the revision has no working downgrade, or ``None`` when it has one."""
    assert f.tree is not None
    function = next(
        (
            node
            for node in f.tree.body
            if isinstance(node, ast.FunctionDef) and node.name == "downgrade"
        ),
        None,
    )
    if function is None:
        return "no downgrade() function"
    if all(_does_nothing(statement) for statement in function.body):
        if any(isinstance(statement, ast.Raise) for statement in function.body):
            return "downgrade() only raises"
        return "downgrade() is empty"
    if _runs_sql_file(function, "downgrade"):
        sql_path = sql_file_path(f.path, "downgrade")
        if not sql_path.is_file():
            return f"downgrade() runs {sql_path.name}, which does not exist"
        if not split_statements(sql_path.read_text(encoding="utf-8")):
            return f"{sql_path.name} holds no statement"
    return None


def _does_nothing(statement: ast.stmt) -> bool:
    """``pass``, a docstring, ``...`` or a ``raise``: nothing is undone."""
    if isinstance(statement, (ast.Pass, ast.Raise)):
        return True
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _runs_sql_file(function: ast.FunctionDef, direction: str) -> bool:
    """True when the function calls ``run_sql_file(__file__, "<direction>")``."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            constants = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if name == "run_sql_file" and direction in constants:
                return True
    return False
