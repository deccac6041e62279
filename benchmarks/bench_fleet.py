"""Many databases in one run: the runner's targets against shell loops of bare Alembic.

Each comparison does the same work both ways in the same run, alternating which goes
first, on fresh databases each time; figures are medians, reported as ratios:

1. one project of 20 revisions to 50 PostgreSQL databases (``--group``, ``--jobs 4``)
   and to 200 SQLite files, against ``alembic upgrade head`` once per database;
2. 50 projects of 20 revisions on SQLite, ``runner upgrade --all``, against
   ``alembic upgrade head`` once per project, for runner-made projects and for stock
   ``alembic init`` projects;
3. ``runner status`` of a 200-member group against ``alembic current`` per member;
4. start-up: ``runner --help`` and ``runner status NAME`` against ``alembic --help``
   and ``alembic current``;
5. the cost per target at 10 and at 200 targets, and the peak memory of the largest
   process of the 200-target run.

    python benchmarks/bench_fleet.py [--rounds 2] [--quick]

Appends the figures to benchmarks/RESULTS.md (section bench_fleet).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from benchmarks.bench_upgrade import REVISION
from benchmarks.results import update_section
from runner.project import repository as projects

PYTHON = sys.executable
BIN = Path(PYTHON).parent
ALEMBIC = str(BIN / "alembic")
RUNNER = [PYTHON, "-m", "runner"]
ADMIN = os.environ.get("RUNNER_TEST_POSTGRES_URL",
                       "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")  # fmt: skip


def env_for(root: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "RUNNER_ROOT": str(root), **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # both tools get their .pyc files
    return env


def revisions(folder: Path, count: int) -> None:
    for n in range(1, count + 1):
        down = "None" if n == 1 else f'"r{n - 1:04d}"'
        (folder / f"r{n:04d}_step.py").write_text(REVISION.format(n=n, down=down))


def runner_project(root: Path, name: str, count: int = 20) -> Path:
    (root / "projects").mkdir(parents=True, exist_ok=True)
    project = projects.create(root, name)
    revisions(project.path / "versions", count)
    return project.path


def stock_project(root: Path, name: str, count: int = 20) -> Path:
    """What `alembic init` makes (alembic.ini beside its scripts/ folder), its URL in
    alembic.ini, dropped into projects/ unchanged otherwise."""
    folder = root / "projects" / name
    folder.mkdir(parents=True)
    subprocess.run([ALEMBIC, "init", "scripts"], cwd=folder, check=True, capture_output=True)
    ini = folder / "alembic.ini"
    database = root / "var" / f"{name}.sqlite"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname",
                                           f"sqlite:///{database}"))  # fmt: skip
    revisions(folder / "scripts" / "versions", count)
    return folder


def run(command: list[str], root: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=root, env=env or env_for(root), check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - started


@contextmanager
def pg_databases(count: int) -> Iterator[list[str]]:
    admin = sa.make_url(ADMIN)
    names = [f"dalembic_fleet_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        connection.exec_driver_sql("CHECKPOINT")  # the copies' WAL, before the clock starts
    try:
        yield [admin.set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        with engine.connect() as connection:
            for name in names:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


def sqlite_files(folder: Path, count: int) -> list[Path]:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    paths = [folder / f"m{i:03d}.sqlite" for i in range(count)]
    for path in paths:
        sqlite3.connect(path).close()
    return paths


# --- the comparisons --------------------------------------------------------------------


def alternate(rounds: int, ours: Callable[[], float], theirs: Callable[[], float]
              ) -> tuple[list[float], list[float]]:  # fmt: skip
    """Both sides ``rounds`` times, ABBA: neither always goes first."""
    mine: list[float] = []
    other: list[float] = []
    for index in range(rounds):
        order = (ours, theirs) if index % 2 == 0 else (theirs, ours)
        for side in order:
            (mine if side is ours else other).append(side())
    return mine, other


def fleet_pg(root: Path, rounds: int, size: int) -> dict[str, object]:
    project = runner_project(root, "pgfleet")
    (project / "targets.toml").write_text(
        'dialect = "postgresql"\n[group.fleet]\nmembers_env = "FLEET"\n')  # fmt: skip
    ini = str(project / "alembic.ini")

    def ours() -> float:
        with pg_databases(size) as urls:
            members = "\n".join(f"m{i:03d} {u}" for i, u in enumerate(urls))
            return run([*RUNNER, "upgrade", "pgfleet", "--group", "fleet", "--jobs", "4"], root,
                       env_for(root, FLEET=members))  # fmt: skip

    def theirs() -> float:
        with pg_databases(size) as urls:
            started = time.perf_counter()
            for url in urls:
                subprocess.run([ALEMBIC, "-c", ini, "upgrade", "head"], cwd=root, check=True,
                               capture_output=True,
                               env=env_for(root, PGFLEET_DATABASE_URL=url))  # fmt: skip
            return time.perf_counter() - started

    mine, other = alternate(rounds, ours, theirs)
    return {"work": f"1 project, 20 revisions, {size} PostgreSQL databases, --jobs 4",
            "runner": mine, "alembic": other}  # fmt: skip


def fleet_sqlite(root: Path, rounds: int, size: int) -> dict[str, object]:
    project = runner_project(root, "litefleet")
    (project / "targets.toml").write_text(
        'dialect = "sqlite"\n[group.fleet]\nsqlite_glob = "var/fleet/*.sqlite"\n')  # fmt: skip
    ini = str(project / "alembic.ini")

    def ours() -> float:
        sqlite_files(root / "var" / "fleet", size)
        return run([*RUNNER, "upgrade", "litefleet", "--group", "fleet", "--jobs", "4"], root)

    def theirs() -> float:
        paths = sqlite_files(root / "var" / "fleet", size)
        started = time.perf_counter()
        for path in paths:
            env = env_for(root, LITEFLEET_DATABASE_URL=f"sqlite:///{path}")
            subprocess.run([ALEMBIC, "-c", ini, "upgrade", "head"], cwd=root, check=True,
                           capture_output=True, env=env)  # fmt: skip
        return time.perf_counter() - started

    mine, other = alternate(rounds, ours, theirs)
    return {"work": f"1 project, 20 revisions, {size} SQLite files, --jobs 4",
            "runner": mine, "alembic": other}  # fmt: skip


def many_projects(base: Path, rounds: int, count: int, stock: bool) -> dict[str, object]:
    kind = "stock `alembic init`" if stock else "runner-made"

    def fresh_root() -> Path:
        root = base / f"projects-{uuid.uuid4().hex[:6]}"
        for i in range(count):
            (stock_project if stock else runner_project)(root, f"p{i:02d}")
        (root / "var").mkdir(exist_ok=True)
        return root

    def ours() -> float:
        root = fresh_root()
        return run([*RUNNER, "upgrade", "--all"], root)

    def theirs() -> float:
        root = fresh_root()
        started = time.perf_counter()
        for folder in sorted((root / "projects").iterdir()):
            subprocess.run([ALEMBIC, "-c", str(folder / "alembic.ini"), "upgrade", "head"],
                           cwd=root, check=True, capture_output=True,
                           env=env_for(root))  # fmt: skip
        return time.perf_counter() - started

    def floor() -> float:
        """Bare Alembic over the same projects in one process: imports paid once, no lock,
        no change log, no checks. What env.py's and Alembic's own work costs, which no
        single-process tool running these env.py files can go below."""
        root = fresh_root()
        inis = [str(folder / "alembic.ini") for folder in sorted((root / "projects").iterdir())]
        return run([PYTHON, "-c", _ONE_PROCESS, *inis], root)

    mine, other = alternate(rounds, ours, theirs)
    least = [floor() for _ in range(rounds)]
    return {"work": f"{count} {kind} projects of 20 revisions, SQLite, upgrade --all",
            "runner": mine, "alembic": other, "floor": least}  # fmt: skip


# One process, bare alembic.command.upgrade per project (logging off, as the runner's
# quiet run): many_projects' floor.
_ONE_PROCESS = (
    "import logging, sys\n"
    "from alembic import command\n"
    "from alembic.config import Config\n"
    "for ini in sys.argv[1:]:\n"
    "    command.upgrade(Config(ini), 'head')\n"
)


def fleet_status(root: Path, rounds: int, size: int) -> dict[str, object]:
    project = runner_project(root, "statfleet")
    (project / "targets.toml").write_text(
        'dialect = "sqlite"\n[group.fleet]\nsqlite_glob = "var/stat/*.sqlite"\n')  # fmt: skip
    paths = sqlite_files(root / "var" / "stat", size)
    run([*RUNNER, "upgrade", "statfleet", "--group", "fleet", "--jobs", "4"], root)
    ini = str(project / "alembic.ini")

    def ours() -> float:
        return run([*RUNNER, "status", "statfleet", "--group", "fleet"], root)

    def theirs() -> float:
        started = time.perf_counter()
        for path in paths:
            env = env_for(root, STATFLEET_DATABASE_URL=f"sqlite:///{path}")
            subprocess.run([ALEMBIC, "-c", ini, "current"], cwd=root, check=True,
                           capture_output=True, env=env)  # fmt: skip
        return time.perf_counter() - started

    mine, other = alternate(rounds, ours, theirs)
    return {"work": f"status of a {size}-member SQLite group (no --jobs)", "runner": mine,
            "alembic": other}  # fmt: skip


def startup(root: Path, repeat: int) -> list[tuple[str, float, float]]:
    project = runner_project(root, "start")
    run([*RUNNER, "upgrade", "start"], root)
    ini = str(project / "alembic.ini")
    pairs = [
        ("--help", [*RUNNER, "--help"], [ALEMBIC, "--help"]),
        ("status NAME / current", [*RUNNER, "status", "start"], [ALEMBIC, "-c", ini, "current"]),
    ]
    rows = []
    for label, ours, theirs in pairs:
        mine, other = alternate(repeat, functools.partial(run, ours, root),
                                functools.partial(run, theirs, root))  # fmt: skip
        rows.append((label, statistics.median(mine), statistics.median(other)))
    return rows


def per_target(root: Path, sizes: tuple[int, ...]) -> list[tuple[int, float, int]]:
    """Seconds per target of an upgrade at each fleet size, and peak RSS (KiB)."""
    project = runner_project(root, "scale")
    (project / "targets.toml").write_text(
        'dialect = "sqlite"\n[group.fleet]\nsqlite_glob = "var/scale/*.sqlite"\n')  # fmt: skip
    rows = []
    for size in sizes:
        sqlite_files(root / "var" / "scale", size)
        probe = ("import resource, subprocess, sys, time\n"
                 "t = time.perf_counter()\n"
                 "subprocess.run(sys.argv[1:], check=True, capture_output=True)\n"
                 "print(time.perf_counter() - t,"
                 " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")  # fmt: skip
        out = subprocess.run([PYTHON, "-c", probe, *RUNNER, "upgrade", "scale", "--group",
                              "fleet", "--jobs", "4"], cwd=root, env=env_for(root),
                             check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
        rows.append((size, float(out[0]) / size, int(out[1])))
    return rows


# --- the report ---------------------------------------------------------------------------


def _ratio_row(result: dict[str, object]) -> str:
    mine, other = result["runner"], result["alembic"]
    assert isinstance(mine, list)
    assert isinstance(other, list)
    ours, theirs = statistics.median(mine), statistics.median(other)
    least = result.get("floor")
    floor = (f"{statistics.median(least):.2f} ({theirs / statistics.median(least):.1f}x)"
             if isinstance(least, list) else "-")  # fmt: skip
    return (f"| {result['work']} | {theirs:.2f} | {ours:.2f} | **{theirs / ours:.1f}x** |"
            f" {floor} | {len(mine)} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds per comparison (ABBA)")
    parser.add_argument("--quick", action="store_true", help="smaller fleets, for a try-out")
    args = parser.parse_args()
    pg, lite, many, members = (10, 40, 10, 40) if args.quick else (50, 200, 50, 200)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        base = Path(tmp)
        results = [
            fleet_pg(base / "pg", args.rounds, pg),
            fleet_sqlite(base / "lite", args.rounds, lite),
            many_projects(base / "many", args.rounds, many, stock=False),
            many_projects(base / "stock", args.rounds, many, stock=True),
            fleet_status(base / "status", args.rounds, members),
        ]
        starts = startup(base / "start", 11)
        scale = per_target(base / "scale", (10, lite))
    machine = (f"{os.cpu_count()} CPU(s), Python {platform.python_version()},"
               f" {platform.system()} {platform.machine()}")  # fmt: skip
    lines = [
        f"## Fleets: one run over many databases against loops of bare alembic"
        f" ({dt.date.today()})",
        "",
        f"Command: `python benchmarks/bench_fleet.py --rounds {args.rounds}"
        f"{' --quick' if args.quick else ''}` (run by `nox -s bench`). Machine: {machine}."
        " Each side does the same work on fresh databases, whole processes timed (what a CI"
        " job pays), sides alternating which goes first; medians. Bare alembic runs once"
        " per database or project, as a shell loop would. The floor column, for many"
        " projects: bare `alembic.command.upgrade` over the same projects in one process"
        " (imports once; no lock, change log, checks or fingerprint), the least a single"
        " process running those env.py files pays, and the loop's time over it: the most"
        " any such tool could be faster by.",
        "",
        "| work | alembic loop (s) | runner (s) | runner is faster by | floor: bare alembic,"
        " one process (s), and its ratio | rounds |",
        "|---|---|---|---|---|---|",
        *[_ratio_row(r) for r in results],
        "",
        "Start-up (median of 11 alternating runs each):",
        "",
        "| command | runner (s) | alembic (s) | runner / alembic |",
        "|---|---|---|---|",
        *[f"| {label} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |"
          for label, ours, theirs in starts],
        "",
        "Per target, `upgrade --group --jobs 4` of a SQLite fleet (20 revisions each):",
        "",
        "| targets | seconds per target | peak RSS of the largest process (MiB) |",
        "|---|---|---|",
        *[f"| {size} | {cost:.4f} | {rss / 1024:.0f} |" for size, cost, rss in scale],
        "",
        f"Whole benchmark: {time.perf_counter() - started:.0f} s.",
    ]  # fmt: skip
    body = "\n".join(lines)
    print(body)
    update_section("bench_fleet", body)


if __name__ == "__main__":
    main()
