"""Render a project's whole upgrade history once, for lint: SQL per revision.

The history is rendered offline once per project (base to heads, Alembic's
``--sql`` mode, no connection) and split per revision on the ``-- Running
upgrade a -> b`` comments Alembic writes. A revision that needs a live
database gets a ``render-failed`` finding and rendering resumes after it.
Where offline mode cannot render an operation at all (SQLite batch mode), the
history runs on an empty throw-away database instead and its executed SQL is
used (:mod:`runner.run.capture`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from runner.lint.rules import finding
from runner.output.results import LintFinding
from runner.project.environment import ProjectEnv
from runner.run import capture
from runner.run.plan import History, offline_limit, render_history, split_by_revision


@dataclass
class Rendered:
    """Upgrade SQL per revision id (in upgrade order) and what could not be rendered."""

    sql: dict[str, str] = field(default_factory=dict)
    failures: list[LintFinding] = field(default_factory=list)
    version_table: str = "alembic_version"


@contextmanager
def quiet() -> Iterator[None]:
    """Silence Alembic's "Running upgrade" lines and sqlglot's parser fallbacks."""
    loggers = [logging.getLogger(n) for n in ("alembic.runtime.migration", "sqlglot")]
    before = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, state in zip(loggers, before, strict=True):
            logger.disabled = state


def render(penv: ProjectEnv, revision_count: int) -> Rendered:
    """Render every upgrade offline, once; on a failing revision, resume after it.

    A revision that needs a live database (``op.get_bind()``, SQLite batch mode
    without ``copy_from``) cannot be rendered offline; it gets a
    ``render-failed`` finding and rendering resumes from it, so one such
    revision does not hide the SQL of all the others.
    """
    with quiet():
        history = render_history(penv, None, revision_count)
    return from_history(penv, history)


def from_history(penv: ProjectEnv, history: History) -> Rendered:
    """Lint's view of a history rendered from base: its SQL per revision, and a
    ``render-failed`` finding for each revision that could not be rendered offline
    (on SQLite, taken from a run on an empty throw-away database instead)."""
    rendered = Rendered(version_table=penv.config.get_main_option("version_table") or "")
    rendered.sql = history.sql
    rendered.version_table = history.version_table or rendered.version_table
    for culprit, exc in history.failures.items():
        rendered.failures.append(
            finding(
                "render-failed",
                f"cannot be rendered offline: {offline_limit(exc)}; the rest of this revision"
                " was not checked",
                revision=culprit,
            )
        )  # fmt: skip
    if rendered.failures and not penv.target.backend.renders_offline:
        _fill_from_a_run(penv, rendered)
    return rendered


def _fill_from_a_run(penv: ProjectEnv, rendered: Rendered) -> None:
    """SQLite batch operations cannot be rendered offline: run the history on an empty
    throw-away database, record what it executes, and use that for those revisions."""
    with quiet():
        sql, error = capture.upgrade_sql_partial(penv, None)
    chunks = split_by_revision(sql)
    complete = list(chunks) if error is None else list(chunks)[:-1]  # the last one failed
    recovered = {rev for rev in complete if rev not in rendered.sql or _failed(rendered, rev)}
    for rev in recovered:
        rendered.sql[rev] = chunks[rev]
    rendered.failures = [f for f in rendered.failures if f.revision not in recovered]


def _failed(rendered: Rendered, revision: str) -> bool:
    return any(f.revision == revision for f in rendered.failures)
