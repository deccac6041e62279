"""One command over many targets: in order or in parallel, each on its own.

Every target is an :class:`Item`: a label and a function that does the command's
work on it and returns its result (or raises a :class:`RunnerError`). :func:`run`
calls them and returns one :class:`Outcome` per item, in the items' order, so the
summary reads the same however the work was scheduled:

* ``jobs`` > 1 runs items in worker processes forked from this one, so Alembic,
  SQLAlchemy and every project's revision map are imported and built once, in the
  parent, and shared. Processes, not threads: Alembic's ``context`` and ``op``
  proxies are module globals that each run of env.py replaces.
* ``canary`` runs the first N items before any other; if one of them fails, the
  rest are not run (a staged rollout).
* ``fail_fast`` stops starting new items after the first failure; those already
  running finish.

A failure is confined to its item: its outcome holds the error line and exit code,
and the other items still run (unless ``fail_fast`` or a canary says otherwise).
Workers send their log records to the parent, which prints them whole, one at a
time, through its own handlers (so a terminal's progress line stays intact).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from runner.errors import EXIT_INTERNAL, RunnerError
from runner.output import redact

log = logging.getLogger("runner")

OK, FAILED, NOT_RUN = "ok", "failed", "not run"


@dataclass(frozen=True)
class Item:
    """One target's share of a command."""

    project: str
    target: str
    label: str  # billing@prod: what log lines and errors call it
    work: Callable[[], Any]


@dataclass(frozen=True)
class Outcome:
    """What one item did: its result, or its error line and exit code."""

    project: str
    target: str
    state: str  # ok, failed, not run
    seconds: float
    result: Any = None
    error: str | None = None
    exit_code: int = 0


# The items of the run in progress: forked workers inherit them, so the work
# functions (closures over loaded projects) never need to be pickled.
_ITEMS: list[Item] = []


def run(
    items: Sequence[Item],
    jobs: int = 1,
    *,
    fail_fast: bool = False,
    canary: int = 0,
    on_done: Callable[[Outcome, int, int], None] | None = None,
) -> list[Outcome]:
    """Run every item; see the module docstring. ``on_done(outcome, done, total)``
    is called in this process as each item finishes (progress, per-target lines)."""
    outcomes: dict[int, Outcome] = {}
    order = list(range(len(items)))
    canaries, rest = order[:canary], order[canary:]
    parallel = jobs > 1 and len(items) > 1 and hasattr(os, "fork")
    schedule = _in_processes if parallel else _in_order

    def done(index: int, outcome: Outcome) -> None:
        outcomes[index] = outcome
        if on_done is not None:
            on_done(outcome, len(outcomes), len(items))

    for batch, stop_on_failure in ((canaries, True), (rest, fail_fast)):
        if not batch:
            continue
        stopped = any(o.state == FAILED for o in outcomes.values()) and (canary > 0 or fail_fast)
        if stopped:
            for index in batch:
                done(index, _not_run(items[index]))
            continue
        schedule(items, batch, jobs, stop_on_failure, done)
    return [outcomes[index] for index in order]


def _not_run(item: Item) -> Outcome:
    return Outcome(item.project, item.target, NOT_RUN, 0.0)


def attempt(item: Item) -> Outcome:
    """Do one item here, turning its error into its outcome."""
    started = time.perf_counter()
    try:
        result = item.work()
    except RunnerError as exc:
        exc.project = item.label
        return Outcome(item.project, item.target, FAILED, time.perf_counter() - started,
                       error=redact.scrub(str(exc)), exit_code=exc.exit_code)  # fmt: skip
    except Exception as exc:  # a bug: this item fails, the others still run
        return Outcome(
            item.project, item.target, FAILED, time.perf_counter() - started,
            error=redact.scrub(f"{item.label}: internal error: {type(exc).__name__}: {exc}"),
            exit_code=EXIT_INTERNAL,
        )  # fmt: skip
    return Outcome(item.project, item.target, OK, time.perf_counter() - started, result)


def _in_order(items: Sequence[Item], batch: Sequence[int], _jobs: int, stop_on_failure: bool,
              done: Callable[[int, Outcome], None]) -> None:  # fmt: skip
    failed = False
    for index in batch:
        if failed and stop_on_failure:
            done(index, _not_run(items[index]))
            continue
        outcome = attempt(items[index])
        failed = failed or outcome.state == FAILED
        done(index, outcome)


def _in_processes(items: Sequence[Item], batch: Sequence[int], jobs: int,
                  stop_on_failure: bool, done: Callable[[int, Outcome], None]) -> None:  # fmt: skip
    # Imported here: the process pool and its queues cost ~3 ms of start-up, and most
    # runs have no --jobs.
    import logging.handlers
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    _ITEMS[:] = items
    context = multiprocessing.get_context("fork")
    records = context.Queue()
    listener = logging.handlers.QueueListener(records, _Relay(), respect_handler_level=False)
    listener.start()
    try:
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(batch)), mp_context=context,
            initializer=_worker_started, initargs=(records,),
        ) as pool:  # fmt: skip
            waiting = list(batch)
            running: dict[Future[Outcome], int] = {}
            failed = False
            while waiting or running:
                while waiting and len(running) < jobs and not (failed and stop_on_failure):
                    index = waiting.pop(0)
                    running[pool.submit(_attempt_at, index)] = index
                if failed and stop_on_failure:
                    for index in waiting:
                        done(index, _not_run(items[index]))
                    waiting.clear()
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = running.pop(future)
                    outcome = _collected(future, items[index])
                    failed = failed or outcome.state == FAILED
                    done(index, outcome)
    finally:
        listener.stop()
        _ITEMS.clear()


def _collected(future: Future[Outcome], item: Item) -> Outcome:
    try:
        return future.result()
    except Exception as exc:  # the worker died (killed, out of memory)
        return Outcome(item.project, item.target, FAILED, 0.0,
                       error=f"{item.label}: the worker process died ({type(exc).__name__})",
                       exit_code=EXIT_INTERNAL)  # fmt: skip


def _attempt_at(index: int) -> Outcome:
    return attempt(_ITEMS[index])


def _worker_started(records: Any) -> None:
    """In each worker: send log records to the parent instead of writing them."""
    import logging.handlers  # imported by _in_processes already; see there

    handler = logging.handlers.QueueHandler(records)
    for name in ("runner", "alembic.runtime.migration"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]


class _Relay(logging.Handler):
    """In the parent: hand a worker's record to the logger it was logged on."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        for handler in logger.handlers:
            if record.levelno >= handler.level:
                handler.handle(record)
