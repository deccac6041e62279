"""``runner lint``: review checks of a project's history and SQL, without a database.

One pipeline per project:

1. read the revision files statically (:mod:`runner.lint.history`): duplicate ids,
   dangling ``down_revision``, extra heads, downgrades that do nothing;
2. build Alembic's revision map (a failure is a finding, not a crash);
3. render every upgrade once (:mod:`runner.lint.render`) and check its SQL
   (:mod:`runner.lint.sql`);
4. apply the ``# lint:`` markers of each revision (:mod:`runner.lint.markers`).

Unaccepted ``error`` findings make the CLI exit with 1 (:class:`LintFailed`).
Rule ids and severities are listed in :mod:`runner.lint.rules`.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.engine import URL

from runner.db.backends import Backend, backend
from runner.db.target import Target
from runner.errors import LintFailed, RunnerError
from runner.lint import checks, history, locate, render, sql
from runner.lint.markers import Marker, read_markers
from runner.lint.rules import RULES, finding
from runner.output import junit, sarif
from runner.output.results import LintFinding, LintResult, LintRevision
from runner.project import targets as declared
from runner.project.environment import ProjectEnv
from runner.project.repository import INI_NAME
from runner.project.revisions import calls_autocommit_block
from runner.run.plan import History

ALLOW_BRANCHES_KEY = "lint_allow_branches"
HISTORY_CASE = "history"
# Findings about the history itself: when one of these is present, Alembic's own
# refusal to build the map says nothing new.
_EXPLAINS_BROKEN_MAP = {"unknown-down-revision", "unreadable-revision", "duplicate-revision"}
_NOT_ACCEPTABLE = {"bad-marker", "unused-accept"}


def lint(
    penv: ProjectEnv, dialect: str | None = None, rendered: History | None = None
) -> LintResult:
    """Check one project; ``dialect`` (a backend name) overrides its URL's. ``rendered``:
    the whole upgrade history's SQL from base, when the caller has it already (a plan
    from an empty database), so that it is not rendered twice."""
    kind = backend(dialect) if dialect else penv.target.backend
    files = history.scan(penv)
    findings = history.graph_findings(files, allows_branches(penv))
    findings += history.downgrade_findings(files)
    order, map_problem = _revision_order(penv)
    if order is None:
        if not any(f.rule in _EXPLAINS_BROKEN_MAP for f in findings):
            findings.append(finding("broken-history", map_problem or "revision map failed"))
        findings.append(finding("render-failed", "history does not load: SQL was not checked"))
        order = [f.revision for f in files if f.revision]
    else:
        findings += _sql_findings(_render_env(penv, kind, dialect), kind, order, files, rendered)
    findings = _apply_markers(findings, files)
    findings = _locate(findings, files)
    findings.sort(key=_sort_key(order))
    errors = sum(1 for f in findings if f.severity == "error" and not f.accepted)
    read = {f.revision: f for f in files if f.revision}
    revisions = [
        LintRevision(rev, list(read[rev].down_revisions), read[rev].shown)
        if rev in read
        else LintRevision(rev, [], "")
        for rev in order
    ]
    return LintResult(
        penv.name, kind.name, revisions, findings, errors, errors == 0, _project_path(penv)
    )


def _project_path(penv: ProjectEnv) -> str:
    """The project folder relative to the repository root, ``/``-separated."""
    folder = penv.project.path.resolve()
    try:
        return folder.relative_to(penv.project.root.resolve()).as_posix()
    except ValueError:
        return folder.as_posix()


# Rule -> where its finding points in the revision file when it has no statement.
_DEFINITION = {"no-downgrade": "downgrade", "render-failed": "upgrade"}
_ASSIGNMENT = {"duplicate-revision": "revision", "unknown-down-revision": "down_revision"}
_LINE_IN_PROBLEM = re.compile(r": line (\d+):")


def _locate(findings: list[LintFinding], files: list[history.RevisionFile]) -> list[LintFinding]:
    """Give each finding the file and line to look at (:mod:`runner.lint.locate`).

    Findings of one revision come in statement order, which is the order its
    ``op`` calls render in: one :class:`locate.RevisionSource` per file follows them.
    """
    by_revision = {f.revision: f for f in files if f.revision}
    by_shown = {f.shown: f for f in files}
    sources: dict[str, locate.RevisionSource] = {}
    out = []
    for item in findings:
        if item.line is not None:
            out.append(item)
            continue
        read = by_shown.get(item.path or "") or by_revision.get(item.revision or "")
        if read is None:  # project-wide (multiple heads, a history that does not load)
            out.append(dataclasses.replace(item, file=INI_NAME, line=1))
            continue
        if read.shown not in sources:
            sources[read.shown] = locate.RevisionSource.read(read.path, read.shown, read.tree)
        source = sources[read.shown]
        if item.statement:
            place = source.statement(item.statement)
        elif item.rule in _DEFINITION:
            place = source.definition(_DEFINITION[item.rule])
        elif item.rule in _ASSIGNMENT:
            place = source.assignment(_ASSIGNMENT[item.rule])
        else:
            found = _LINE_IN_PROBLEM.search(item.message)
            place = locate.Place(read.shown, int(found[1]) if found else 1)
        path = item.path or read.shown
        out.append(dataclasses.replace(item, path=path, file=place.file, line=place.line))
    return out


def allows_branches(penv: ProjectEnv) -> bool:
    """``lint_allow_branches = true`` in the project's ``[alembic]`` section."""
    value = penv.config.get_main_option(ALLOW_BRANCHES_KEY) or ""
    return value.strip().lower() in {"true", "1", "yes", "on"}


FAIL_ON = ("error", "warning")


def raise_if_failed(results: Sequence[LintResult], fail_on: str = "error") -> None:
    """Raise :class:`LintFailed` when any project has unaccepted findings of severity
    ``fail_on`` or worse (``error``: errors only; ``warning``: warnings too)."""
    failing = {"error"} if fail_on == "error" else {"error", "warning"}
    counts = {
        r.project: sum(1 for f in r.findings if f.severity in failing and not f.accepted)
        for r in results
    }
    failed = [name for name, count in counts.items() if count]
    if failed:
        kinds = "error" if fail_on == "error" else "error or warning"
        raise LintFailed(
            f"lint: {sum(counts.values())} unaccepted {kinds} finding(s) in {', '.join(failed)};"
            " fix them, or accept each in its revision file with"
            " '# lint: accept <rule>: <reason>'"
        )


def sarif_rules() -> list[sarif.RuleInfo]:
    """The registry as SARIF's ``tool.driver.rules`` wants it."""
    return [
        sarif.RuleInfo(
            rule.id,
            rule.severity,
            rule.summary,
            rule.why,
            rule.rewrite,
            {
                "family": rule.family,
                "dialects": list(rule.dialects) or ["all"],
                "servers": [a.shown() for a in rule.applies] or ["all versions"],
                "lock": rule.lock,
                "squawk": list(rule.squawk),
                "tags": ["database", "migration", rule.family],
            },
        )
        for rule in RULES.values()
    ]


def _revision_order(penv: ProjectEnv) -> tuple[list[str] | None, str | None]:
    """Revision ids base first, or ``(None, why)`` when Alembic cannot load the history."""
    try:
        # Alembic only warns about duplicate ids; lint reports them itself.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scripts = list(penv.script.walk_revisions())
    except RunnerError as exc:
        return None, str(exc)
    except KeyError as exc:
        # Alembic 1.18 only warns about a missing down_revision, then fails on the lookup.
        return None, f"{penv.name}: revision {exc} is referenced but not present"
    return [s.revision for s in reversed(scripts)], None


def _render_env(penv: ProjectEnv, kind: Backend, dialect: str | None) -> ProjectEnv:
    """``penv``, or a copy aimed at ``kind`` that reuses the revision map already built."""
    if dialect is None:
        return penv
    # Offline rendering only builds the dialect: a URL without a host never connects.
    return penv.pointed_at(Target(URL.create(kind.drivername), f"--dialect {dialect}"))


def server_context(penv: ProjectEnv, kind: Backend) -> tuple[str | None, checks.Guards]:
    """The declared server version (when linting for the declared dialect) and the
    timeouts the runner sets on every target: its deploy guard's lock wait unless a
    target turns it off, and the statement timeout targets.toml declares."""
    declaration = declared.load(penv.project)
    version = declaration.server_version if declaration.dialect == kind.name else None
    settings = [e.settings for e in declaration.envs.values()]
    settings += [g.settings for g in declaration.groups.values()]
    # Only a timeout every target gets counts: one unguarded target is enough to queue.
    # 0 switches the server's timeout off (PostgreSQL), so it guards nothing.
    settings = settings or [declaration.defaults]
    guards = checks.Guards(
        # The deploy guard sets a lock wait by default (runner.db.target.Session): only a
        # target that turns it off (db_lock_timeout = 0) leaves a statement unguarded.
        lock_timeout=all(s.session().lock_wait(kind) for s in settings),
        statement_timeout=all((s.statement_timeout or 0) > 0 for s in settings),
    )
    return version, guards


def _sql_findings(
    penv: ProjectEnv,
    kind: Backend,
    order: list[str],
    files: list[history.RevisionFile],
    given: History | None = None,
) -> list[LintFinding]:
    """Render once (unless ``given``), then check each revision's SQL as ``kind`` parses it."""
    shown = {f.revision: f.shown for f in files if f.revision}
    if given is None:
        rendered = render.render(penv, len(order))
    else:
        rendered = render.from_history(penv, given)
    findings = list(rendered.failures)
    version, guards = server_context(penv, kind)
    seen = checks.Seen()  # built up in upgrade order, across revisions
    schema = sql.Schema()  # built up in upgrade order, across revisions
    for rev in order:
        if rev in rendered.sql:
            script = penv.script.get_revision(rev)
            autocommit = script is not None and calls_autocommit_block(script, upgrade=True)
            findings += sql.check_revision(
                rev, rendered.sql[rev], kind, rendered.version_table, shown.get(rev), schema,
                autocommit, server_version=version, guards=guards, seen=seen,
            )  # fmt: skip
    return [dataclasses.replace(f, path=f.path or shown.get(f.revision or "")) for f in findings]


def _apply_markers(
    findings: list[LintFinding], files: list[history.RevisionFile]
) -> list[LintFinding]:
    """Mark accepted findings; add ``bad-marker`` and ``unused-accept`` findings."""
    markers = {f: read_markers(f.path) for f in files}
    by_shown = {f.shown: found for f, found in markers.items()}
    out: list[LintFinding] = []
    used: set[Marker] = set()
    for item in findings:
        # Findings name their revision file by path: that file's markers apply.
        candidates = by_shown.get(item.path or "", [])
        marker = next((m for m in candidates if m.valid and item.rule in m.rules), None)
        if marker is None or item.rule in _NOT_ACCEPTABLE:
            out.append(item)
        else:
            used.add(marker)
            out.append(dataclasses.replace(item, accepted=True, reason=marker.reason))
    for file, found in markers.items():
        out += _marker_findings(file, found, used)
    return out


def _marker_findings(
    file: history.RevisionFile, markers: list[Marker], used: set[Marker]
) -> list[LintFinding]:
    """``bad-marker`` for invalid markers, ``unused-accept`` for ones that accepted nothing."""
    out = []
    for m in markers:
        where = f"{_relative(m.path, file)}:{m.line}"
        if not m.valid:
            message = f"{where}: {m.problem}"
            out.append(finding("bad-marker", message, revision=file.revision, path=file.shown))
        # A dialect-specific rule may fire when linting for another dialect: not "unused".
        elif m not in used and all(RULES[r].everywhere for r in m.rules):
            message = f"{where}: nothing to accept for {', '.join(m.rules)}; remove the marker"
            out.append(finding("unused-accept", message, revision=file.revision, path=file.shown))
        else:
            continue
        out[-1] = dataclasses.replace(out[-1], file=_relative(m.path, file), line=m.line)
    return out


def _relative(path: Path, file: history.RevisionFile) -> str:
    """A marker's file shown like its revision file (``versions/x.upgrade.sql``)."""
    return str(Path(file.shown).with_name(path.name))


def _sort_key(order: list[str]) -> Callable[[LintFinding], int]:
    """Project-wide findings first, then by revision in upgrade order (stable within)."""
    position = {rev: i for i, rev in enumerate(order)}

    def key(item: LintFinding) -> int:
        if item.revision is None:
            return -1
        return position.get(item.revision, len(order))

    return key


# --- JUnit XML ------------------------------------------------------------------


def junit_suites(results: Sequence[LintResult]) -> list[junit.Suite]:
    """For JUnit XML: one testsuite per project, one testcase per revision plus one
    for the history.

    Each unaccepted error is a ``<failure>``; other findings (warnings, info,
    accepted ones) are the case's notes (``<system-out>``) for the reviewer.
    """
    suites = []
    for result in results:
        cases = []
        ids = [r.revision for r in result.revisions]
        for name in [HISTORY_CASE, *ids]:
            mine = [f for f in result.findings if _case_of(f, ids) == name]
            failing = [f for f in mine if f.severity == "error" and not f.accepted]
            cases.append(junit.Case(
                f"lint.{result.project}", name,
                failures=[junit.Failure(f.message, f.rule, f.statement or f.message)
                          for f in failing],
                output="\n".join(_line(f) for f in mine if f not in failing),
            ))  # fmt: skip
        suites.append(junit.Suite(result.project, cases))
    return suites


def _case_of(item: LintFinding, revisions: list[str]) -> str:
    return item.revision if item.revision in revisions else HISTORY_CASE


def _line(item: LintFinding) -> str:
    """``severity rule message [accepted: reason]``: one finding on one line."""
    accepted = f" [accepted: {item.reason}]" if item.accepted else ""
    return f"{item.severity} {item.rule} {item.message}{accepted}"
