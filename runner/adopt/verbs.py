"""``adopt``, ``drift`` and ``diff``: the plain functions behind the verbs."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Literal

from alembic.util import rev_id

from runner.adopt import render
from runner.adopt.catalog import Catalog, reflect
from runner.adopt.diff import compare
from runner.adopt.replica import replica_catalog
from runner.adopt.results import AdoptResult, DiffResult, DriftResult
from runner.authoring import docstring_text
from runner.db import locking
from runner.errors import ConfigError, Refused
from runner.output.results import Direction, describe_revs
from runner.project.environment import ProjectEnv
from runner.project.objects import scope_of
from runner.project.sql_files import sql_file_path
from runner.run import changelog
from runner.run.fingerprint import fingerprint, last_recorded
from runner.run.session import open_connection, read_env
from runner.run.write import DEFAULT_OPTIONS, WriteOptions

log = logging.getLogger("runner")

_SQL_HEADER = """-- {direction} of the baseline {rev}: {message}
-- Written by runner adopt from the live schema; run statement by statement.
"""


# --- adopt ---------------------------------------------------------------------------


def adopt(
    penv: ProjectEnv,
    message: str,
    *,
    sql: bool = False,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    options: WriteOptions = DEFAULT_OPTIONS,
) -> AdoptResult:
    """Write a baseline revision of the live schema, stamp the database at it, and
    record a ``baseline`` row with the schema's fingerprint. Nothing else in the
    database changes (the runner's version and log tables are created)."""
    from runner import commands

    heads = penv.heads()
    if heads:
        raise Refused(
            f"the project already has revisions (head {describe_revs(heads)}): adopt writes a"
            " project's first revision; for a database changed outside the migrations, see:"
            f" runner drift {penv.name}",
            project=penv.name,
        )
    with open_connection(penv) as connection:
        state = read_env(penv, connection)
        if state.current:
            raise Refused(
                f"the database is already at {describe_revs(state.current)} (its version table"
                f" {state.version_table} says so): it is under change control already",
                project=penv.name,
            )
        scope = scope_of(penv.project, state.version_table).extended(include, exclude)
        with connection.begin():
            catalog = reflect(connection, scope)
            baseline = render.baseline(connection, catalog, scope)
    if not catalog.schema:
        raise ConfigError(
            f"nothing to adopt in {penv.target.display}: no table, view or other object"
            " (check the URL and the include/exclude patterns)",
            project=penv.name,
        )
    revision, files = _write_revision(penv, message, baseline, catalog, sql)
    commands.stamp(penv, [revision], options=options)
    digest = _record_baseline(penv, revision, message, options)
    declared = scope_of(penv.project)
    extra = [p for p in include if p not in declared.include] + [
        p for p in exclude if p not in declared.exclude]  # fmt: skip
    if extra:
        log.warning(
            "%s: %s applied to this adopt only: add them to [objects] in the targets file,"
            " or drift reports the objects they left out as added",
            penv.name, ", ".join(extra),
        )  # fmt: skip
    counts = Counter(obj.split(" ", 1)[0] for obj in catalog.schema)
    for unrendered in baseline.unrendered:
        log.warning("%s: not rendered: %s", penv.name, unrendered)
    return AdoptResult(penv.name, penv.target.display, revision, files, dict(counts),
                       baseline.unrendered, digest)  # fmt: skip


def _write_revision(penv: ProjectEnv, message: str, baseline: render.Baseline,
                    catalog: Catalog, sql: bool) -> tuple[str, list[str]]:  # fmt: skip
    """The baseline file (and with ``sql`` its paired .sql files), relative paths."""
    upgrade, downgrade = baseline.body(baseline.upgrade), baseline.body(baseline.downgrade)
    try:
        script = penv.script.generate_revision(
            rev_id(), docstring_text(message), head="base", sql_files=sql,
            upgrades=upgrade, downgrades=downgrade, imports="\n".join(baseline.imports),
        )  # fmt: skip
    finally:
        penv.forget_revisions()
    if script is None or script.path is None:
        raise ConfigError("Alembic did not write the baseline revision", project=penv.name)
    path = Path(script.path)
    written = [path]
    if sql:
        pairs: tuple[tuple[Literal["upgrade", "downgrade"], str], ...] = (
            ("upgrade", upgrade), ("downgrade", downgrade))  # fmt: skip
        for direction, body in pairs:
            target = sql_file_path(path, direction)
            header = _SQL_HEADER.format(direction=direction, rev=script.revision,
                                        message=" ".join(message.split()))  # fmt: skip
            text = render.as_sql(body, baseline.imports, catalog.dialect)
            target.write_text(header + text, encoding="utf-8")
            written.append(target)
    root = penv.project.root
    shown = [str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in written]
    return script.revision, shown


def _record_baseline(penv: ProjectEnv, revision: str, message: str,
                     options: WriteOptions) -> str:  # fmt: skip
    """The ``baseline`` row: the revision, its file's checksum, the schema's fingerprint."""
    script = penv.revision(revision)
    info = penv.info(script)
    with (
        open_connection(penv, options.lock_timeout) as connection,
        locking.hold(connection, penv.name, options.lock_timeout),
        connection.begin(),
    ):
        state = read_env(penv, connection)
        log_ = changelog.project_log(penv, state.version_table_schema)
        recorded = last_recorded(log_, connection)
        digest = recorded.checksum if recorded is not None else fingerprint(
            connection, scope_of(penv.project))  # fmt: skip
        log_.append(connection, log_.entry(
            revision=revision, down_revisions=[], direction=Direction.BASELINE,
            description=f"adopted: {message}; schema fingerprint {digest}",
            path=info.path, checksum=penv.checksum(str(script.path)),
            started=changelog.utcnow(),
        ))  # fmt: skip
    return digest


# --- drift ---------------------------------------------------------------------------


def drift(penv: ProjectEnv, *, quick: bool = False, server_url: str | None = None) -> DriftResult:
    """``drift``: the target's schema against a replica of its migrations; with
    ``quick``, first its fingerprint against the last one recorded."""
    with open_connection(penv) as connection, connection.begin():
        state = read_env(penv, connection)
        scope = scope_of(penv.project, state.version_table)
        current = sorted(state.current)
        for rev in current:
            penv.revision(rev)  # a revision the repository does not know: say so
        log_ = changelog.project_log(penv, state.version_table_schema)
        recorded = last_recorded(log_, connection)
        # As after_write takes it (a custom version table's schema is stable: kept).
        live_digest = fingerprint(connection, scope_of(penv.project))
        note = ""
        if quick:
            if recorded is None:
                note = "no fingerprint recorded yet: compared with a replica"
            elif recorded.revision != ",".join(current):
                note = (f"the last fingerprint is of {recorded.revision or 'base'}, not of the"
                        " current revision: compared with a replica")  # fmt: skip
            elif recorded.checksum == live_digest:
                return DriftResult(penv.name, penv.target.display, current, False,
                                   "fingerprint", [], live_digest,
                                   recorded.checksum)  # fmt: skip
            else:
                note = (f"the fingerprint differs from the one recorded"
                        f" {recorded.finished_at:%Y-%m-%d %H:%M} UTC")  # fmt: skip
        live = reflect(connection, scope)
    expected = replica_catalog(penv, current, scope, server_url)
    changes = compare(expected.schema, live.schema)
    if quick and recorded is not None and not changes and recorded.checksum != live_digest:
        note += ("; the replica shows no difference in what drift compares (a server upgrade"
                 " can change how definitions print)")  # fmt: skip
    return DriftResult(penv.name, penv.target.display, current, bool(changes), "replica",
                       changes, live_digest,
                       recorded.checksum if recorded else None, note)  # fmt: skip


# --- diff ----------------------------------------------------------------------------


def schema_of(penv: ProjectEnv, include: tuple[str, ...] = (),
              exclude: tuple[str, ...] = ()) -> Catalog:  # fmt: skip
    """One target's catalog, as the project's patterns keep it."""
    with open_connection(penv) as connection, connection.begin():
        state = read_env(penv, connection)
        scope = scope_of(penv.project, state.version_table).extended(include, exclude)
        return reflect(connection, scope)


def diff(penv_from: ProjectEnv, penv_to: ProjectEnv, source: str, destination: str) -> DiffResult:
    """``diff``: what ``destination`` has that ``source`` has not, and the reverse."""
    changes = compare(schema_of(penv_from).schema, schema_of(penv_to).schema)
    return DiffResult(penv_from.name, source, destination, not changes, changes)
