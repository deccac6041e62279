"""A long change log: verify, status, log --limit and upgrade at 100 and 50 000 rows.

Liquibase users report checks that hang for a minute on 50 000 applied changesets. The
runner's commands must cost about the same on a long log as on a short one. Each size
gets a project of two revisions applied once through the runner; then the log grows by
rows written with the runner's own ``ChangeLog.append`` (so they are chained and sealed
as a real run seals them: pairs of downgrade/upgrade of the second revision), and the
commands run as whole processes, sizes alternating, medians of the rounds.

    python benchmarks/bench_longlog.py [--rounds 5] [--rows 50000] [--revisions 5000]
                                       [--postgresql]

A second table does the same for a long history: 100 against 5 000 revisions (each
applied once, so the log holds as many rows), with ``alembic current`` beside it: both
tools import every revision file to build the revision map.

Appends the figures to benchmarks/RESULTS.md (section bench_longlog).
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
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from benchmarks.bench_upgrade import REVISION as TABLE_REVISION
from benchmarks.bench_upgrade import make_project, run_env
from benchmarks.results import update_section
from runner.output.results import Direction
from runner.project import repository as projects
from runner.run.changelog import ChangeLog
from runner.run.provenance import Provenance

PYTHON = sys.executable
RUNNER = [PYTHON, "-m", "runner"]
ADMIN = os.environ.get("RUNNER_TEST_POSTGRES_URL",
                       "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")  # fmt: skip
REVISION = '''"""{table}"""
revision = "{rev}"
down_revision = {down}
from alembic import op
def upgrade() -> None:
    op.execute("CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
def downgrade() -> None:
    op.execute("DROP TABLE {table}")
'''
FIRST = REVISION.format(rev="a1", down=None, table="t")
SECOND = REVISION.format(rev="b2", down='"a1"', table="u")
THIRD = REVISION.format(rev="c3", down='"b2"', table="v")
COMMANDS = {
    "verify": ["verify", "p"],
    "status": ["status", "p"],
    "log --limit 20": ["log", "p", "--limit", "20"],
    "upgrade (one revision)": ["upgrade", "p"],
}


def grow(url: str, rows: int, checksum: str) -> None:
    """Append ``rows`` chained rows (pairs of downgrade/upgrade of b2) to the log."""
    engine = sa.create_engine(url)
    who = Provenance(os_user="bench", ci_identity=None, ci_job_url=None, git_commit=None)
    log_ = ChangeLog.for_project("p", None, who, db_user="bench", runner_version="bench")
    now = dt.datetime(2026, 1, 1)
    with engine.begin() as connection:
        batch = []
        for n in range(rows // 2):
            for direction, rev, down in ((Direction.DOWNGRADE, "b2", "a1"),
                                         (Direction.UPGRADE, "b2", "a1")):  # fmt: skip
                batch.append(log_.entry(
                    revision=rev, down_revisions=[down], direction=direction,
                    description="u", path="projects/p/versions/b2.py", checksum=checksum,
                    started=now, finished=now, duration_ms=n % 7,
                ))  # fmt: skip
            if len(batch) >= 2000:
                log_.append(connection, *batch)
                batch = []
        log_.append(connection, *batch)
    engine.dispose()


def checksum_of_b2(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        value = connection.execute(sa.text(
            "SELECT checksum FROM alembic_changelog_p"
            " WHERE revision = 'b2' AND direction = 'upgrade' ORDER BY id DESC"
        )).scalar()  # fmt: skip
    engine.dispose()
    return str(value)


def prepare(base: Path, url: str, rows: int) -> Path:
    root = base / uuid.uuid4().hex[:8]
    (root / "projects").mkdir(parents=True)
    project = projects.create(root, "p")
    (project.path / "versions" / "a1.py").write_text(FIRST)
    (project.path / "versions" / "b2.py").write_text(SECOND)
    env = {**os.environ, "RUNNER_ROOT": str(root), "P_DATABASE_URL": url}
    subprocess.run([*RUNNER, "upgrade", "p"], env=env, check=True, capture_output=True)
    grow(url, rows, checksum_of_b2(url))
    return root


def timed(root: Path, url: str, args: list[str]) -> float:
    env = {**os.environ, "RUNNER_ROOT": str(root), "P_DATABASE_URL": url}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # every run would recompile otherwise
    if args[0] == "upgrade":  # a new revision each time, taken back out after
        (root / "projects" / "p" / "versions" / "c3.py").write_text(THIRD)
    started = time.perf_counter()
    subprocess.run([*RUNNER, *args], env=env, check=True, capture_output=True)
    took = time.perf_counter() - started
    if args[0] == "upgrade":
        subprocess.run([*RUNNER, "downgrade", "p", "b2"], env=env, check=True,
                       capture_output=True)  # fmt: skip
    return took


def pg_url() -> tuple[str, sa.Engine]:
    admin = sa.make_url(ADMIN)
    name = f"dalembic_longlog_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return admin.set(database=name).render_as_string(hide_password=False), engine


def long_history(base: Path, rounds: int, sizes: tuple[int, int]) -> list[str]:
    """status, verify, log --limit and a one-revision upgrade at two history lengths, and
    ``alembic current`` beside them; SQLite, whole processes, sizes alternating."""
    roots: dict[int, tuple[Path, str]] = {}
    for size in sizes:
        root = base / f"history-{size}"
        make_project(root, size)
        url = f"sqlite:///{root}/history.sqlite"
        subprocess.run([*RUNNER, "upgrade", "bench"], env=run_env(root, url), check=True,
                       capture_output=True)  # fmt: skip
        roots[size] = (root, url)
    commands = {
        "verify": [*RUNNER, "verify", "bench"],
        "status": [*RUNNER, "status", "bench"],
        "log --limit 20": [*RUNNER, "log", "bench", "--limit", "20"],
        "upgrade (one revision)": [*RUNNER, "upgrade", "bench"],
        "alembic current (for comparison)": [PYTHON, "-m", "alembic", "-c", "{ini}", "current"],
    }
    lines = [
        "",
        f"A long history (SQLite): {sizes[0]} against {sizes[1]} revisions, each applied"
        " once; same method.",
        "",
        f"| command | {sizes[0]} revisions (s) | {sizes[1]} revisions (s) | long / short |",
        "|---|---|---|---|",
    ]
    for label, command in commands.items():
        got: dict[int, list[float]] = {size: [] for size in sizes}
        for index in range(rounds):
            for size in sizes if index % 2 == 0 else tuple(reversed(sizes)):
                root, url = roots[size]
                ini = str(root / "projects" / "bench" / "alembic.ini")
                env = run_env(root, url)
                extra = root / "projects" / "bench" / "versions" / "r9999_step.py"
                if label.startswith("upgrade"):
                    extra.write_text(TABLE_REVISION.format(n=9999, down=f'"r{size:04d}"'))
                started = time.perf_counter()
                subprocess.run([part.format(ini=ini) for part in command], env=env,
                               check=True, capture_output=True)  # fmt: skip
                got[size].append(time.perf_counter() - started)
                if label.startswith("upgrade"):
                    subprocess.run([*RUNNER, "downgrade", "bench", f"r{size:04d}"], env=env,
                                   check=True, capture_output=True)  # fmt: skip
                    extra.unlink()
        short, long_ = (statistics.median(got[s]) for s in sizes)
        lines.append(f"| `{label}` | {short:.3f} | {long_:.3f} | {long_ / short:.2f}x |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--postgresql", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--revisions", type=int, default=5_000, help="the long history")
    args = parser.parse_args()
    sizes = (100, args.rows)
    kinds = ["sqlite", *(["postgresql"] if args.postgresql else [])]
    lines = [
        f"## A long change log: cost at {sizes[0]} and {sizes[1]} rows ({dt.date.today()})",
        "",
        f"Command: `python benchmarks/bench_longlog.py --rounds {args.rounds} --rows"
        f" {args.rows} --revisions {args.revisions}{' --postgresql' if args.postgresql else ''}`"
        " (run by `nox -s bench`)."
        f" Machine: {os.cpu_count()} CPU(s), Python {platform.python_version()}. Whole"
        " processes, sizes alternating, medians. The bar (issue 18): within 2x of the short"
        " log, and verify under 1 s at 50 000 rows.",
        "",
        f"| database | command | {sizes[0]} rows (s) | {sizes[1]} rows (s) | long / short |",
        "|---|---|---|---|---|",
    ]
    drops: list[tuple[sa.Engine, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-longlog-") as tmp:
        try:
            for kind in kinds:
                roots = {}
                for size in sizes:
                    if kind == "sqlite":
                        url = f"sqlite:///{tmp}/p-{size}.sqlite"
                    else:
                        url, admin = pg_url()
                        drops.append((admin, sa.make_url(url).database or ""))
                    roots[size] = (prepare(Path(tmp), url, size), url)
                for label, command in COMMANDS.items():
                    got: dict[int, list[float]] = {size: [] for size in sizes}
                    for index in range(args.rounds):
                        order = sizes if index % 2 == 0 else tuple(reversed(sizes))
                        for size in order:
                            got[size].append(timed(*roots[size], command))
                    short, long_ = (statistics.median(got[s]) for s in sizes)
                    lines.append(f"| {kind} | `{label}` | {short:.3f} | {long_:.3f} |"
                                 f" {long_ / short:.2f}x |")  # fmt: skip
                    print(lines[-1], flush=True)
            lines += long_history(Path(tmp), args.rounds, (100, args.revisions))
        finally:
            for admin, name in drops:
                with admin.connect() as connection:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
    body = "\n".join(lines)
    print(body)
    update_section("bench_longlog", body)


if __name__ == "__main__":
    main()
