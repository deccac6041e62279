"""Writing files: new projects and new revisions (Python or paired SQL)."""

from __future__ import annotations

from pathlib import Path

from alembic.script.revision import RevisionError
from alembic.util import CommandError, rev_id

from runner.errors import ConfigError, RevisionProblem
from runner.output.tool_results import CreatedFiles
from runner.project import repository
from runner.project.environment import ProjectEnv
from runner.project.sql_files import sql_file_path

_SQL_HEADER = """-- {direction} of revision {rev}: {message}
-- Plain SQL, run statement by statement (split on ';') by runner.sql_files.
{body}
"""


def new_project(root: Path, name: str, dialect: str | None = None) -> CreatedFiles:
    """``new``: create ``projects/<name>/`` from the runner's template; with ``dialect``,
    also its ``targets.toml`` declaring it."""
    project = repository.create(root, name)
    if dialect is not None:
        from runner.project import targets

        (project.path / targets.TARGETS_FILE).write_text(
            targets.template(name, dialect), encoding="utf-8"
        )
    files = sorted(str(p.relative_to(root)) for p in project.path.rglob("*") if p.is_file())
    return CreatedFiles(project=name, files=files)


def new_revision(
    penv: ProjectEnv,
    message: str,
    *,
    sql: bool = False,
    head: str = "head",
    branch_label: str | None = None,
    depends_on: str | None = None,
    splice: bool = False,
    autogenerate: bool = False,
) -> CreatedFiles:
    """``revision``: a new revision on top of ``head``; with ``sql``, paired .sql files too.

    ``splice`` starts a branch from a revision that is not a head (Alembic refuses
    that by default, as a guard against building on a stale revision by mistake)."""
    if not message.strip():
        raise ConfigError("a revision needs a message (-m)", project=penv.name)
    if autogenerate:
        if sql:
            raise ConfigError("--autogenerate writes Alembic operations, not .sql files: use"
                              " one or the other", project=penv.name)  # fmt: skip
        return _autogenerate(penv, message, head, branch_label, depends_on, splice)
    script_dir = penv.script
    try:
        script = script_dir.generate_revision(
            rev_id(),
            docstring_text(message),
            head=head,
            branch_labels=branch_label,
            depends_on=depends_on,
            splice=splice,
            sql_files=sql,
        )
    except (RevisionError, CommandError) as exc:
        detail = " ".join(str(exc).split())
        if "Multiple heads" in detail:
            detail = (
                f"{len(penv.heads())} heads ({', '.join(penv.heads())}); pass --head with one"
                f" of them, or merge them first (runner merge {penv.name})"
            )
        elif "is not a head revision" in detail:
            detail = (
                f"{head} is not a head; to start a branch from it, add --splice (and usually"
                f" --branch-label NAME); to build on the newest revision, leave --head out"
            )
        raise RevisionProblem(f"cannot create a revision: {detail}", project=penv.name) from exc
    finally:
        penv.forget_revisions()
    if script is None:  # only when a hook vetoes it; not in our templates
        raise RevisionProblem("Alembic did not write a revision file", project=penv.name)
    path = Path(script.path)
    files = [path]
    if sql:
        if "run_sql_file" not in path.read_text(encoding="utf-8"):
            path.unlink()
            raise ConfigError(
                f"{penv.project.path / 'script.py.mako'} does not support SQL revisions (no"
                " 'sql_files' block); copy runner/templates/project/script.py.mako",
                project=penv.name,
            )
        for direction in ("upgrade", "downgrade"):
            sql_path = sql_file_path(path, direction)
            body = "-- write the statements here\n"
            sql_path.write_text(
                _SQL_HEADER.format(
                    direction=direction, rev=script.revision, message=_one_line(message),
                    body=body,
                ),
                encoding="utf-8",
            )  # fmt: skip
            files.append(sql_path)
    return CreatedFiles(project=penv.name, files=_shown(penv, files), revision=script.revision)


def _autogenerate(
    penv: ProjectEnv,
    message: str,
    head: str,
    branch_label: str | None,
    depends_on: str | None,
    splice: bool,
) -> CreatedFiles:
    """A revision whose operations Alembic derives by comparing env.py's
    ``target_metadata`` (your models) with the project's database."""
    from alembic import command

    if penv.target.file_path is not None:
        penv.target.file_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        scripts = command.revision(
            penv.config, message=docstring_text(message), autogenerate=True, head=head,
            splice=splice, branch_label=branch_label, depends_on=depends_on,
        )  # fmt: skip
    except CommandError as exc:
        detail = " ".join(str(exc).split())
        if "does not provide a MetaData" in detail:
            detail = (
                "env.py has no target_metadata to compare the database with: set"
                " target_metadata in the project's env.py to your models' MetaData"
            )
        raise RevisionProblem(
            f"cannot autogenerate a revision: {detail}", project=penv.name
        ) from exc
    finally:
        penv.forget_revisions()
    script = scripts[0] if isinstance(scripts, list) else scripts
    if script is None:
        raise RevisionProblem("Alembic did not write a revision file", project=penv.name)
    return CreatedFiles(
        project=penv.name, files=_shown(penv, [Path(script.path)]), revision=script.revision
    )


def merge_heads(penv: ProjectEnv, message: str | None = None) -> CreatedFiles:
    """``merge``: a revision whose down revisions are all current heads (no schema change).

    What `alembic merge heads` does; the runner suggests it whenever two heads
    stop an upgrade.
    """
    heads = list(penv.heads())
    if len(heads) < 2:
        raise RevisionProblem(
            f"nothing to merge: one head ({', '.join(heads) or 'none'})", project=penv.name
        )
    try:
        script = penv.script.generate_revision(
            rev_id(), docstring_text(message or f"merge {', '.join(heads)}"), head=heads
        )
    except (RevisionError, CommandError) as exc:
        raise RevisionProblem(
            f"cannot merge: {' '.join(str(exc).split())}", project=penv.name
        ) from exc
    finally:
        penv.forget_revisions()
    if script is None:
        raise RevisionProblem("Alembic did not write a merge revision", project=penv.name)
    return CreatedFiles(
        project=penv.name, files=_shown(penv, [Path(script.path)]), revision=script.revision
    )


def docstring_text(message: str) -> str:
    """``message`` written so that, pasted between the template's triple quotes, the
    docstring reads back exactly as ``message``.

    Templates put the message in the revision's docstring as it is: a backslash
    (``C:\\new``), an escape (``\\x41``), a quote (ending the docstring early, code
    after it), a control character or a stray surrogate would change or break
    the file. Each is escaped; everything else is kept.
    """
    out = []
    for char in message:
        if char in {"\\", '"'}:
            out.append("\\" + char)
        elif char in "\n\t":
            out.append(char)
        elif ord(char) < 32 or ord(char) == 127 or 0xD800 <= ord(char) <= 0xDFFF:
            out.append(f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shown(penv: ProjectEnv, files: list[Path]) -> list[str]:
    """Paths relative to the repository root when they are under it."""
    root = penv.project.root
    return [str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in files]
