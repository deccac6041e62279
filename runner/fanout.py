"""Which targets a command runs on, and running it on each: the projects named (or
``--all``), each project's selected targets (:mod:`runner.project.targets`), this
job's shard of them, then :mod:`runner.run.fleet`.

A project is loaded once (its ``alembic.ini`` and, on first use, its revision map)
and pointed at each of its targets in turn, sharing the map. A project that cannot
be loaded, or whose targets cannot be listed, becomes one failed item: the other
projects still run and the summary names it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import RunnerError
from runner.project import repository
from runner.project import targets as declared
from runner.project.environment import ProjectEnv
from runner.project.targets import Candidate, Choice, Settings, Shard
from runner.run import fleet
from runner.run.fleet import Item

log = logging.getLogger("runner")

Work = Callable[[ProjectEnv, Settings], Any]


@dataclass(frozen=True)
class Fleet:
    """How a command runs over targets (its ``--env/--group/--target/--jobs/...``)."""

    choice: Choice = field(default_factory=Choice)
    jobs: int = 1
    fail_fast: bool | None = None  # None: stop at the first failure, except in a group
    canary: int = 0
    shard: Shard | None = None
    confirmed: frozenset[str] = frozenset()
    junit: Path | None = None  # one testcase per target

    @property
    def wants_summary(self) -> bool:
        """Whether to report as a fleet even if only one target was selected."""
        choice = self.choice
        return bool(choice.group or choice.patterns or self.shard or self.canary or self.jobs > 1)

    def stops_on_failure(self, writing: bool) -> bool:
        """Reads always carry on; a write stops at a failure unless it is a group's."""
        if not writing:
            return False
        if self.fail_fast is not None:
            return self.fail_fast
        return self.choice.group is None  # a fleet carries on; dev -> prod stops


@dataclass
class Plan:
    """The items of one command, and the targets left out (label, why)."""

    items: list[Item]
    skipped: list[tuple[str, str]]
    loaders: list[_Loader] = field(default_factory=list)


def items(
    root: Path,
    names: Sequence[str] | None,
    url: str | None,
    spec: Fleet,
    work: Work,
    *,
    writing: bool,
    environ: Mapping[str, str] = os.environ,
) -> Plan:
    """One item per selected target of each project (``names`` None: every project)."""
    if names is None:
        found = repository.discover(root)
        for project in found:
            repository.check_no_twin(project, found)
    else:
        found = [repository.Project.at(root, name) for name in names]
    plan = Plan([], [])
    for project in found:
        try:
            declaration = declared.load(project)
            selection = declared.select(declaration, spec.choice, root, environ, writing=writing,
                                        url_option=url, confirmed=spec.confirmed)  # fmt: skip
        except RunnerError as exc:
            if names is not None and len(found) == 1:
                raise  # one project asked for: its own error, as it is
            plan.items.append(_broken(project.name, exc))
            continue
        plan.skipped += selection.skipped
        chosen = [c for c in selection.candidates if spec.shard is None or spec.shard.keeps(c)]
        loader = _Loader(project, chosen)
        plan.loaders.append(loader)
        plan.items += [_item(c, loader, work) for c in chosen]
    return plan


class _Loader:
    """Loads a project once, then points it at each target (sharing the revision map)."""

    def __init__(self, project: repository.Project, candidates: Sequence[Candidate]) -> None:
        self.project, self.candidates = project, candidates
        self.base: ProjectEnv | None = None

    def at(self, candidate: Candidate) -> ProjectEnv:
        target = candidate.resolve()
        if self.base is None:
            self.base = ProjectEnv.load(self.project, target)
            return self.base
        return self.base.pointed_at(target)

    def warm(self) -> None:
        """Load the project and build its revision map now (before workers fork, so
        they share it); a problem is left for the items to report."""
        if self.base is not None or not self.candidates:
            return
        try:
            self.at(self.candidates[0]).script  # noqa: B018 - builds the map
        except RunnerError:
            self.base = None


def _item(candidate: Candidate, loader: _Loader, work: Work) -> Item:
    def run() -> Any:
        with labelled(candidate.project, candidate.label):
            result = work(loader.at(candidate), candidate.settings)
        return _tagged(result, candidate)

    return Item(candidate.project, candidate.name, candidate.label, run)


def _broken(project: str, exc: RunnerError) -> Item:
    def run() -> Any:
        raise exc

    return Item(project, "-", project, run)


def _tagged(result: Any, candidate: Candidate) -> Any:
    """The result, naming its target (a project's only target stays unnamed)."""
    if candidate.name == declared.DEFAULT_TARGET:
        return result
    if dataclasses.is_dataclass(result) and any(f.name == "target" for f in
                                                dataclasses.fields(result)):  # fmt: skip
        return dataclasses.replace(result, target=candidate.name)  # type: ignore[type-var]
    return result


def run(plan: Plan, spec: Fleet, *, writing: bool,
        on_done: Callable[[fleet.Outcome, int, int], None] | None = None,
        ) -> list[fleet.Outcome]:  # fmt: skip
    """Run the plan's items as ``spec`` says."""
    if spec.jobs > 1:
        for loader in plan.loaders:
            loader.warm()
    return fleet.run(plan.items, spec.jobs, fail_fast=spec.stops_on_failure(writing),
                     canary=spec.canary if writing else 0, on_done=on_done)  # fmt: skip


@contextmanager
def labelled(project: str, label: str) -> Iterator[None]:
    """While a target runs, its log lines say which (``billing@prod: upgrade ...``)."""
    if label == project:
        yield
        return
    prefix, renamed = f"{project}: ", f"{label}: "

    def rename(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(prefix):
            record.msg, record.args = renamed + message[len(prefix) :], ()
        return True

    logger = logging.getLogger("runner")
    logger.addFilter(rename)
    try:
        yield
    finally:
        logger.removeFilter(rename)
