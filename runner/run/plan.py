"""What the next upgrade of a database would run: its steps and their exact SQL.

Two ways to get the SQL, chosen by the backend's ``renders_offline`` fact:

* Alembic's offline (``--sql``) rendering, once over the history, split per
  revision on its ``-- Running upgrade a -> b`` comments. A revision that needs
  a live database (a data migration reading rows through ``op.get_bind()``)
  cannot be rendered: rendering resumes after it, and the plan says which
  revision it could not show, instead of passing for a failed run.
* On SQLite, whose batch operations reflect a live table, the upgrade runs on a
  throw-away copy of the database (:mod:`runner.run.capture`) and the statements
  it executes are the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from alembic.script.revision import RevisionError
from alembic.util import CommandError

from runner.errors import MigrationFailed, RevisionProblem, RunnerError
from runner.output.results import describe_revs
from runner.project.environment import ProjectEnv
from runner.run import capture, newer
from runner.run.envpass import render

_MARKER = re.compile(r"^-- Running upgrade (?P<down>.*?) -> (?P<rev>\S+)\s*$", re.MULTILINE)


@dataclass
class History:
    """Upgrade SQL per revision id, in upgrade order, and the revisions that could not be
    rendered offline with why (their SQL is then only what came before the failure)."""

    sql: dict[str, str] = field(default_factory=dict)
    failures: dict[str | None, RunnerError] = field(default_factory=dict)
    version_table: str | None = None
    # Each offline pass's whole text and the revision it stopped at (None: it finished).
    passes: list[tuple[str, str | None]] = field(default_factory=list)


def render_history(
    penv: ProjectEnv, start: Any, revision_count: int, destination: str = "heads"
) -> History:
    """Render every upgrade from ``start`` to the heads offline, once; on a revision that
    fails, resume after it, so one such revision does not hide the SQL of the others."""
    history = History()
    failed: set[str] = set()
    for _ in range(revision_count + 1):
        run = render(penv, start, destination)
        chunks = split_by_revision(run.sql)
        if run.error is None:
            _drop_closing_commit(run.sql, chunks)
        for rev, sql in chunks.items():
            history.sql.setdefault(rev, sql)
        if run.error is None:
            history.version_table = run.version_table
            history.passes.append((run.sql, None))
            break
        culprit = next(reversed(chunks), None) if chunks else None
        history.failures[culprit] = run.error
        history.passes.append((run.sql, culprit))
        if not isinstance(run.error, MigrationFailed) or culprit is None or culprit in failed:
            break  # env.py itself failed, or we would loop: stop here
        failed.add(culprit)
        start = culprit
    return history


_BEGIN = re.compile(r"^BEGIN;\s*$", re.MULTILINE)
_CLOSING_COMMIT = re.compile(r"\n\s*COMMIT;\s*$")


def _drop_closing_commit(sql: str, chunks: dict[str, str]) -> None:
    """Alembic wraps a transactional offline script in ``BEGIN;`` ... ``COMMIT;``: the
    COMMIT lands at the end of the last revision's part, but is not that revision's."""
    first = _MARKER.search(sql)
    if not chunks or first is None or not _BEGIN.search(sql[: first.start()]):
        return
    last = next(reversed(chunks))
    chunks[last] = _CLOSING_COMMIT.sub("\n", chunks[last])


def split_by_revision(sql: str) -> dict[str, str]:
    """Offline SQL cut at Alembic's ``-- Running upgrade a -> b`` comments, keyed by ``b``.

    >>> split_by_revision("CREATE TABLE v;\\n-- Running upgrade  -> r1\\nCREATE TABLE t;\\n")
    {'r1': '\\nCREATE TABLE t;\\n'}
    """
    markers = list(_MARKER.finditer(sql))
    return {
        m["rev"]: sql[m.end() : markers[i + 1].start() if i + 1 < len(markers) else len(sql)]
        for i, m in enumerate(markers)
    }


@dataclass(frozen=True)
class Pending:
    """The steps of the next upgrade, their SQL, and what could not be shown."""

    steps: list[Any]
    sql: str
    unrendered: dict[str, str] = field(default_factory=dict)  # revision -> why
    # The same SQL per revision when it is the whole upgrade history (from base to the
    # heads), for lint to check without rendering the history a second time.
    whole_history: History | None = None


def pending_sql(
    penv: ProjectEnv,
    current: tuple[str, ...],
    destination: str = "heads",
    downgrade: bool = False,
) -> Pending:
    """Steps from ``current`` to ``destination`` (down, with ``downgrade``: what a
    rollback would run), and the SQL they run.

    Alembic needs ``start:end`` for offline SQL; callers read ``start`` from the
    database, so the SQL is what the next upgrade of *that* database runs.
    """
    missing = newer.unknown(penv.script, current)
    if missing:  # a newer deploy: say so plainly, not as a broken history (exit 4, not 2)
        raise newer.ahead(penv.name, penv.target.name, missing)
    try:
        steps_of = penv.downgrade_steps if downgrade else penv.upgrade_steps
        steps = list(steps_of(destination, current))
    except (RevisionError, CommandError) as exc:
        raise RevisionProblem(
            f"database revision {describe_revs(current)} is not reachable in this repository:"
            f" {' '.join(str(exc).split())}",
            project=penv.name,
        ) from exc
    if not steps:
        return Pending([], "")
    if not penv.target.backend.renders_offline:
        # A copy of the real database, tables and all, even with no version row yet:
        # a legacy database brought under control plans on what it really holds.
        source = penv.target.file_path
        try:
            sql = capture.upgrade_sql(penv, source, destination, downgrade)
        except MigrationFailed as exc:
            raise MigrationFailed(f"{exc.message} (on a throw-away copy: the real run would"
                                  " fail the same way; nothing was changed)",
                                  project=exc.project) from exc  # fmt: skip
        whole = History(split_by_revision(sql)) if _whole(current, destination, downgrade) else None
        return Pending(steps, sql, whole_history=whole)
    if downgrade:
        rendering = render(penv, current, destination, downgrade=True)
        if rendering.error is not None:
            raise rendering.error
        return Pending(steps, rendering.sql)
    history = render_history(penv, current or None, len(steps), destination)
    for rev, error in history.failures.items():
        if rev is None or not isinstance(error, MigrationFailed):
            raise error  # env.py itself cannot render: no plan at all
    unrendered = {rev: offline_limit(error) for rev, error in history.failures.items() if rev}
    parts = []
    for text, stopped_at in history.passes:
        parts.append(text.rstrip() + "\n")
        if stopped_at is not None:
            parts.append(f"-- NOT SHOWN: the rest of revision {stopped_at} cannot be rendered"
                         f" offline: {unrendered[stopped_at]}\n")  # fmt: skip
    text = "".join(parts) if unrendered else history.passes[0][0]
    return Pending(steps, text, unrendered, history if _whole(current, destination) else None)


def _whole(current: tuple[str, ...], destination: str, downgrade: bool = False) -> bool:
    """Whether an upgrade from ``current`` to ``destination`` is the whole history."""
    return not current and destination == "heads" and not downgrade


def offline_limit(error: RunnerError) -> str:
    """A revision's failure to render offline, said as what it is: a limit of offline
    rendering (the revision needs a live database), not a failed run."""
    detail = error.message.split(": ", 1)[-1] if isinstance(error, MigrationFailed) else str(error)
    return f"{detail} (offline rendering has no database to read from; nothing ran)"
