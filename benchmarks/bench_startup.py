"""Start-up: what a new `runner` process imports, against the Alembic command it wraps.

For a short job most of a process's time is its imports (issue #18). Each pair is
run alternately in new processes under ``python -X importtime``: the sum of every
module's own ("self") import time, the modules loaded, and the wall time, as medians.
The runner's largest own modules are listed after the table: where start-up goes.
Appends the figures to benchmarks/RESULTS.md.

    python benchmarks/bench_startup.py [--revisions 100] [--repeat 11]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from benchmarks.bench_upgrade import fresh_url, make_project, run_env
from benchmarks.results import update_section

# A database to run one process on: its URL, and what to do with it afterwards.
Database = Callable[[], tuple[str, Callable[[], None]]]


@dataclass(frozen=True)
class Sample:
    """One process: each module's self import time (µs), and the wall time (s)."""

    modules: dict[str, int]
    seconds: float

    @property
    def self_ms(self) -> float:
        return sum(self.modules.values()) / 1000


def sample(command: list[str], root: Path, url: str) -> Sample:
    env = run_env(root, url)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", *command], cwd=root, env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    seconds = time.perf_counter() - started
    modules = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, _cumulative, name = line.split(":", 1)[1].split("|", 2)
            modules[name.strip()] = int(own)
    return Sample(modules, seconds)


def pair(
    runner: list[str], alembic: list[str], root: Path, database: Database, repeat: int
) -> tuple[list[Sample], list[Sample]]:
    """``repeat`` rounds of both commands, in alternating order, each on ``database()``."""
    ours: list[Sample] = []
    theirs: list[Sample] = []
    for round_ in range(repeat + 1):  # round 0 writes the bytecode caches, untimed
        order = [(runner, ours), (alembic, theirs)]
        for command, samples in order if round_ % 2 == 0 else order[::-1]:
            url, drop = database()
            try:
                taken = sample(command, root, url)
            finally:
                drop()
            if round_:
                samples.append(taken)
    return ours, theirs


def row(label: str, ours: list[Sample], theirs: list[Sample]) -> str:
    def med(samples: list[Sample], value: Callable[[Sample], float]) -> float:
        return statistics.median(value(s) for s in samples)

    ours_ms, theirs_ms = med(ours, lambda s: s.self_ms), med(theirs, lambda s: s.self_ms)
    ours_s, theirs_s = med(ours, lambda s: s.seconds), med(theirs, lambda s: s.seconds)
    paired = statistics.median(o.seconds / t.seconds for o, t in zip(ours, theirs, strict=True))
    counts = f"{len(theirs[-1].modules)} | {len(ours[-1].modules)}"
    return (f"| {label} | {theirs_ms:.0f} | {ours_ms:.0f} | {counts} | {theirs_s:.3f} |"
            f" {ours_s:.3f} | {paired:.2f} |")  # fmt: skip


def largest_own(samples: list[Sample], count: int = 8) -> str:
    """The runner's own modules with the most self time (median), for the notes."""
    names = {n for s in samples for n in s.modules if n.split(".")[0] == "runner"}
    medians = {n: statistics.median(s.modules.get(n, 0) for s in samples) for n in names}
    top = sorted(medians.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {us / 1000:.1f}" for name, us in top)


def _fresh(kind: str, root: Path) -> Database:
    def database() -> tuple[str, Callable[[], None]]:
        url, drop = fresh_url(kind, root)
        return url, drop  # type: ignore[return-value]  # bench_upgrade types it object

    return database


def _keep() -> None:
    """The database of a read-only command outlives it."""


def measure(kind: str, root: Path, repeat: int) -> tuple[list[str], list[Sample]]:
    """Rows for ``kind``, and the runner's samples of ``upgrade``."""
    alembic = ["-m", "alembic", "-c", str(root / "projects" / "bench" / "alembic.ini")]
    runner = ["-m", "runner"]
    at_head, drop_head = _fresh(kind, root)()
    subprocess.run([sys.executable, *runner, "upgrade", "bench"], cwd=root,
                   env=run_env(root, at_head), check=True, capture_output=True)  # fmt: skip
    kept: Database = lambda: (at_head, _keep)  # noqa: E731
    pairs: dict[str, tuple[list[str], list[str], Database]] = {
        "upgrade (fresh database)": (["upgrade", "bench"], ["upgrade", "head"], _fresh(kind, root)),
        "status / current": (["status", "bench"], ["current"], kept),
        "current / current": (["current", "bench"], ["current"], kept),
    }
    rows: list[str] = []
    upgrades: list[Sample] = []
    try:
        for label, (ours, theirs, database) in pairs.items():
            mine, alembics = pair([*runner, *ours], [*alembic, *theirs], root, database, repeat)
            rows.append(row(f"{kind}: {label}", mine, alembics))
            upgrades = upgrades or mine
            print(rows[-1], flush=True)
    finally:
        drop_head()
    return rows, upgrades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("RUNNER_TEST_POSTGRES_URL") else [])
    rows: list[str] = []
    largest = ""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, args.revisions)
        for kind in kinds:
            found, upgrades = measure(kind, root, args.repeat)
            rows += found
            if kind == "sqlite":
                largest = largest_own(upgrades)
        helps = pair(["-m", "runner", "--help"], ["-m", "alembic", "--help"], root,
                     lambda: ("sqlite://", _keep), args.repeat)  # fmt: skip
        rows.append(row("--help", *helps))
        print(rows[-1], flush=True)
    section = "\n".join([
        f"## Start-up: imports of a new process against alembic ({dt.date.today()})\n",
        f"Command: `python benchmarks/bench_startup.py --revisions {args.revisions}"
        f" --repeat {args.repeat}` (run by `nox -s bench`). Machine: {os.cpu_count()} cores,"
        f" Python {platform.python_version()}. Each pair (runner, then the Alembic command"
        " it wraps) is run alternately as new processes under `python -X importtime`;"
        " figures are medians. Import self time is the sum of every module's own import"
        " time, so it does not count a module twice; the wall time also holds the work"
        " itself (the runner's lock, checks and change log).\n",
        "| command (runner / alembic) | alembic imports, self (ms) | runner imports, self"
        " (ms) | alembic modules | runner modules | alembic, process (s) | runner, process"
        " (s) | median of paired ratios |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"The runner's own modules with the most self time in `upgrade` on SQLite (ms):"
        f" {largest}.",
    ])  # fmt: skip
    update_section("bench_startup", section)


if __name__ == "__main__":
    main()
