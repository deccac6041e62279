"""Speed against the floor and against bare Alembic: the rows of issue 18, in one run.

* SQLite upgrades from empty at 100, 1000 and 2000 revisions: the runner, bare
  ``alembic upgrade head``, and the floor (the same SQL, rendered once by ``alembic
  upgrade head --sql``, through the ``sqlite3`` shell in one transaction). The slope
  between 1000 and 2000 revisions is the cost of one more revision.
* PostgreSQL, 100 revisions, whole process, a fresh database per run.
* A stock ``alembic init`` environment (its own env.py, its URL in alembic.ini)
  dropped into ``projects/``, 100 revisions on SQLite.
* ``lint`` and ``plan`` of 1000 revisions against ``alembic upgrade head --sql``.

Every figure is a whole new process (what a CI step pays), the contenders of a row
alternating which goes first, medians of the rounds.

    python benchmarks/bench_speed.py [--rounds 5] [--quick]

Writes the section bench_speed of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from benchmarks.bench_fleet import env_for, stock_project
from benchmarks.bench_upgrade import fresh_url, make_project, run_env
from benchmarks.results import update_section

PYTHON = sys.executable
SQLITE3 = shutil.which("sqlite3")


def _env(root: Path, url: str | None = None) -> dict[str, str]:
    """The environment of a timed run (bytecode caching on), with the database URL."""
    return env_for(root) if url is None else run_env(root, url)


def _run(command: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True, input=stdin,
                   text=stdin is not None)  # fmt: skip
    return time.perf_counter() - started


def _rounds(rounds: int, contenders: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Medians of ``rounds`` runs of each contender, which goes first rotating."""
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(contenders[name]())
    return {name: statistics.median(values) for name, values in times.items()}


def _upgrade_contenders(root: Path, kind: str) -> dict[str, Callable[[], float]]:
    """Runner and bare alembic, each on a fresh database of ``kind`` per run."""
    ini = str(root / "projects" / "bench" / "alembic.ini")

    def once(command: list[str]) -> Callable[[], float]:
        def go() -> float:
            url, drop = fresh_url(kind, root)
            try:
                return _run(command, root, _env(root, url))
            finally:
                drop()  # type: ignore[operator]

        return go

    return {
        "runner": once([PYTHON, "-m", "runner", "upgrade", "bench"]),
        "alembic": once([PYTHON, "-m", "alembic", "-c", ini, "upgrade", "head"]),
    }


def _floor(root: Path) -> Callable[[], float]:
    """The same SQL through the sqlite3 shell, in one transaction, on a fresh file."""
    ini = str(root / "projects" / "bench" / "alembic.ini")
    url, drop = fresh_url("sqlite", root)
    sql = subprocess.run([PYTHON, "-m", "alembic", "-c", ini, "upgrade", "head", "--sql"],
                         cwd=root, env=_env(root, url), check=True, capture_output=True,
                         text=True).stdout  # fmt: skip
    drop()  # type: ignore[operator]
    script = f"BEGIN;\n{sql}\nCOMMIT;\n"

    def go() -> float:
        path = root / "var" / f"{uuid.uuid4().hex}.sqlite"
        try:
            return _run([str(SQLITE3), str(path)], root, _env(root), stdin=script)
        finally:
            path.unlink(missing_ok=True)

    return go


# Bare Alembic with the file never synced (journal in memory, synchronous off): its commit
# after each revision then costs no I/O, so what is left is Alembic's and SQLAlchemy's
# own work per revision, plus SQLite's CPU: the least any tool running these revisions'
# Alembic operations can pay.
_ALEMBIC_NO_SYNC = """
import os, sys
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
engine = sa.create_engine(os.environ["BENCH_DATABASE_URL"])
with engine.connect() as connection:
    connection.exec_driver_sql("PRAGMA journal_mode = MEMORY")
    connection.exec_driver_sql("PRAGMA synchronous = OFF")
    config = Config(sys.argv[1])
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    connection.commit()
"""


def _alembic_no_sync(root: Path) -> Callable[[], float]:
    ini = str(root / "projects" / "bench" / "alembic.ini")

    def go() -> float:
        url, drop = fresh_url("sqlite", root)
        try:
            return _run([PYTHON, "-c", _ALEMBIC_NO_SYNC, ini], root, _env(root, url))
        finally:
            drop()  # type: ignore[operator]

    return go


def sqlite_scaling(base: Path, rounds: int, counts: tuple[int, ...]) -> list[dict[str, float]]:
    rows = []
    for count in counts:
        root = base / f"sqlite-{count}"
        make_project(root, count)
        contenders = _upgrade_contenders(root, "sqlite")
        contenders["alembic, no sync"] = _alembic_no_sync(root)
        if SQLITE3:
            contenders["floor"] = _floor(root)
        medians = _rounds(rounds, contenders)
        rows.append({"revisions": count, **medians})
        print(f"sqlite {count}: {medians}", flush=True)
    return rows


def postgresql(base: Path, rounds: int) -> dict[str, float]:
    root = base / "pg"
    make_project(root, 100)
    medians = _rounds(rounds, _upgrade_contenders(root, "postgresql"))
    print(f"postgresql 100: {medians}", flush=True)
    return medians


def stock(base: Path, rounds: int) -> dict[str, float]:
    """A stock env.py project; both tools upgrade the SQLite file its alembic.ini names."""
    root = base / "stock"
    folder = stock_project(root, "stock", 100)
    database = root / "var" / "stock.sqlite"
    database.parent.mkdir(parents=True, exist_ok=True)

    def once(command: list[str], cwd: Path) -> Callable[[], float]:
        def go() -> float:
            database.unlink(missing_ok=True)
            return _run(command, cwd, _env(root))

        return go

    medians = _rounds(rounds, {
        "runner": once([PYTHON, "-m", "runner", "upgrade", "stock"], root),
        "alembic": once([PYTHON, "-m", "alembic", "upgrade", "head"], folder),
    })  # fmt: skip
    print(f"stock 100: {medians}", flush=True)
    return medians


def lint_and_plan(base: Path, rounds: int, count: int) -> dict[str, float]:
    root = base / "lint"
    make_project(root, count)
    ini = str(root / "projects" / "bench" / "alembic.ini")
    url = f"sqlite:///{root}/var/plan.sqlite"  # never created: plan of an empty database
    (root / "var").mkdir(exist_ok=True)
    env = _env(root, url)
    medians = _rounds(rounds, {
        "alembic --sql": lambda: _run([PYTHON, "-m", "alembic", "-c", ini, "upgrade", "head",
                                       "--sql"], root, env),
        "lint": lambda: _run([PYTHON, "-m", "runner", "lint", "bench"], root, env),
        "plan": lambda: _run([PYTHON, "-m", "runner", "plan", "bench"], root, env),
    })  # fmt: skip
    print(f"lint/plan {count}: {medians}", flush=True)
    return medians


def report(rounds: int, scaling: list[dict[str, float]], pg: dict[str, float] | None,
           stocked: dict[str, float], linted: dict[str, float], took: float) -> str:  # fmt: skip
    lines = [
        f"## Speed against the floor and bare Alembic ({dt.date.today()})",
        "",
        f"Command: `python benchmarks/bench_speed.py --rounds {rounds}` (run by `nox -s"
        f" bench`). Machine: {os.cpu_count()} CPU(s), Python {platform.python_version()},"
        f" {platform.system()} {platform.machine()}. Whole processes, contenders alternating"
        " which goes first, medians; a fresh database for every run. Revisions: a table"
        " and one row each (benchmarks/bench_upgrade.py).",
        "",
        "| SQLite, from empty | runner (s) | alembic (s) | alembic, file never synced (s) |"
        " floor: sqlite3 shell (s) | runner / alembic |",
        "|---|---|---|---|---|---|",
    ]
    for row in scaling:
        floor = f"{row['floor']:.3f}" if "floor" in row else "-"
        lines.append(
            f"| {row['revisions']:.0f} revisions | {row['runner']:.3f} |"
            f" {row['alembic']:.3f} | {row['alembic, no sync']:.3f} | {floor} |"
            f" {row['runner'] / row['alembic']:.2f} |"
        )
    lines += [
        "",
        "`alembic, file never synced`: bare `alembic.command.upgrade` on a connection with"
        " `PRAGMA journal_mode = MEMORY` and `synchronous = OFF`, so its commit after each"
        " revision costs no I/O: what Alembic, SQLAlchemy and SQLite's CPU cost, the least"
        " a tool that runs these revisions' Alembic operations can pay (unsafe for real"
        " databases; a measure only).",
    ]
    by_count = {int(r["revisions"]): r for r in scaling}
    if 1000 in by_count and 2000 in by_count:
        low, high = by_count[1000], by_count[2000]
        slopes = {name: (high[name] - low[name]) / 1000 * 1000 for name in low
                  if name != "revisions"}  # fmt: skip
        lines += [
            "",
            "Cost of one more revision (the slope from 1000 to 2000 revisions):"
            + ", ".join(f" {name} {ms:.2f} ms" for name, ms in slopes.items())
            + ".",
        ]
        if "floor" in slopes and slopes["floor"] > 0:
            lines[-1] += (
                f" Runner / floor: **{slopes['runner'] / slopes['floor']:.1f}x**"
                " (bar: 3x, goal 2x)."
            )
        lines[-1] += (
            f" 1000 revisions: runner / alembic **{low['runner'] / low['alembic']:.2f}**"
            " (bar: 0.3)."
        )
        bare = "alembic, no sync"
        if bare in slopes and slopes.get("floor", 0) > 0:
            lines += [
                "",
                f"What bounds both bars: bare Alembic with no I/O at all costs"
                f" {slopes[bare]:.2f} ms per revision, {slopes[bare] / slopes['floor']:.1f}x"
                f" the floor's slope, and takes {low[bare] / low['alembic']:.2f} of bare"
                " Alembic's time at 1000 revisions: Alembic's and SQLAlchemy's own work per"
                " operation (building each Table, compiling its DDL, the version-table"
                " UPDATE) is already above 3x the floor and 0.3 of Alembic, so no tool that"
                " runs the revisions' Alembic operations meets either bar. The runner, with"
                " its lock, checks, change log and fingerprint and a real commit, costs"
                f" {slopes['runner'] / slopes[bare]:.2f}x that per revision.",
            ]
    lines += [
        "",
        "| work | runner (s) | alembic (s) | runner / alembic | bar |",
        "|---|---|---|---|---|",
    ]
    if pg is not None:
        lines.append(
            f"| PostgreSQL, 100 revisions | {pg['runner']:.3f} | {pg['alembic']:.3f} |"
            f" **{pg['runner'] / pg['alembic']:.2f}** | 1.0 |"
        )
    lines.append(
        f"| stock `alembic init` env.py, SQLite, 100 revisions | {stocked['runner']:.3f}"
        f" | {stocked['alembic']:.3f} | **{stocked['runner'] / stocked['alembic']:.2f}**"
        " | 1.0 |"
    )
    sql = linted["alembic --sql"]
    for name in ("lint", "plan"):
        lines.append(
            f"| `{name}` of 1000 revisions (alembic: `upgrade head --sql`) |"
            f" {linted[name]:.3f} | {sql:.3f} | **{linted[name] / sql:.2f}** | 2.0 |"
        )
    lines += ["", f"Whole benchmark: {took:.0f} s."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="100 and 1000 revisions only")
    args = parser.parse_args()
    started = time.perf_counter()
    counts = (100, 1000) if args.quick else (100, 1000, 2000)
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        base = Path(tmp)
        scaling = sqlite_scaling(base, args.rounds, counts)
        pg = postgresql(base, args.rounds) if os.environ.get("RUNNER_TEST_POSTGRES_URL") else None
        stocked = stock(base, args.rounds)
        linted = lint_and_plan(base, args.rounds, 1000)
    body = report(args.rounds, scaling, pg, stocked, linted, time.perf_counter() - started)
    print(body)
    if not args.quick:
        update_section("bench_speed", body)


if __name__ == "__main__":
    main()
