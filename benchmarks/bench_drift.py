"""`drift --quick` against replica-based `drift` over a group of 20 databases, and what
the schema fingerprint costs a write.

A project adopted from a hand-made SQLite schema (tests/test_adopt.py's), ten
revisions on top, twenty tenant copies in a ``sqlite_glob`` group: first as
deployed (no drift, the everyday case), then with one tenant changed by hand
(``--quick`` then builds a replica for that one). Both commands run in the same
process run after run, in turns (quick, replica, replica, quick, ...), timed
inside the process after the imports (the work, not Python's start-up), and once
each as a new process. Then the
fingerprint alone on a 200-table schema (SQLite, and PostgreSQL when
RUNNER_TEST_POSTGRES_URL is set), against the Inspector's reflection of the same
schema and against a one-revision upgrade there. Figures go to
benchmarks/RESULTS.md.

    python benchmarks/bench_drift.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from benchmarks.results import update_section
from runner import cli
from runner.adopt.catalog import reflect
from runner.run.fingerprint import fingerprint
from tests.test_adopt import SCHEMAS

TENANTS = 20

LATER = '''"""later {n}"""

import sqlalchemy as sa
from alembic import op

revision = "later{n:02d}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("extra{n:02d}", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("v", sa.String(20)))
    op.create_index("ix_extra{n:02d}_v", "extra{n:02d}", ["v"])


def downgrade() -> None:
    op.drop_table("extra{n:02d}")
'''


def runner(root: Path, *args: str) -> int:
    """The CLI in this process, quiet; its exit code."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            cli.main(["--root", str(root), *args])
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


def build_group(root: Path) -> None:
    """Adopt a hand-made schema, ten revisions on top, twenty copies."""
    (root / "projects").mkdir(parents=True)
    (root / "var" / "tenants").mkdir(parents=True)
    first = root / "var" / "first.sqlite"
    with sqlite3.connect(first) as connection:
        for statement in SCHEMAS["sqlite"]:
            connection.execute(statement)
    os.environ["SHOP_DATABASE_URL"] = f"sqlite:///{first}"
    assert runner(root, "new", "shop") == 0
    assert runner(root, "adopt", "shop") == 0
    versions = root / "projects" / "shop" / "versions"
    down = next(versions.glob("*.py")).name.split("_")[2]
    for n in range(1, 11):
        (versions / f"later{n:02d}.py").write_text(LATER.format(n=n, down=down))
        down = f"later{n:02d}"
    assert runner(root, "upgrade", "shop") == 0
    del os.environ["SHOP_DATABASE_URL"]
    for number in range(TENANTS):
        shutil.copy(first, root / "var" / "tenants" / f"t{number:02d}.sqlite")
    (root / "projects" / "shop" / "targets.toml").write_text(
        'dialect = "sqlite"\n\n[group.tenants]\nsqlite_glob = "var/tenants/*.sqlite"\n'
    )


def interleaved(root: Path, repeat: int, code: int) -> dict[str, list[float]]:
    """Both commands in turns; each must exit with ``code`` (0: no drift, 7: drift)."""
    commands = {
        "quick": ("drift", "shop", "--group", "tenants", "--quick"),
        "replica": ("drift", "shop", "--group", "tenants"),
    }
    for command in commands.values():  # untimed: warm imports and caches for both
        assert runner(root, *command) == code
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(repeat):
        order = list(commands) if round_ % 2 == 0 else list(commands)[::-1]
        for name in order:
            started = time.perf_counter()
            assert runner(root, *commands[name]) == code
            times[name].append(time.perf_counter() - started)
    return times


def summary(times: dict[str, list[float]]) -> tuple[float, float, float]:
    """Medians of replica and quick, and the median of the paired ratios."""
    ratio = statistics.median(r / q for q, r in zip(times["quick"], times["replica"],
                                                    strict=True))  # fmt: skip
    return statistics.median(times["replica"]), statistics.median(times["quick"]), ratio


def as_process(root: Path, *args: str) -> float:
    env = {**os.environ, "RUNNER_ROOT": str(root)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "runner", *args], env=env, capture_output=True,
                   check=False)  # fmt: skip
    return time.perf_counter() - started


@contextlib.contextmanager
def wide_schema(kind: str, tmp: Path, tables: int = 200) -> Iterator[str]:
    """A database with ``tables`` tables of six columns, two indexes and a foreign key."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp / f'wide-{uuid.uuid4().hex[:6]}.sqlite'}"
        admin = None
    else:
        admin = sa.make_url(os.environ["RUNNER_TEST_POSTGRES_URL"])
        name = f"dalembic_bench_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        url = admin.set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for n in range(tables):
            parent = f", parent INTEGER REFERENCES w{n - 1:03d}(id)" if n else ""
            connection.exec_driver_sql(
                f"CREATE TABLE w{n:03d} (id INTEGER PRIMARY KEY, a VARCHAR(40) NOT NULL,"
                f" b INTEGER DEFAULT 0, c TEXT, d NUMERIC(10, 2){parent})"
            )
            connection.exec_driver_sql(f"CREATE INDEX ix_w{n:03d}_a ON w{n:03d} (a)")
            connection.exec_driver_sql(f"CREATE INDEX ix_w{n:03d}_bc ON w{n:03d} (b, c)")
    engine.dispose()
    try:
        yield url
    finally:
        if admin is not None:
            engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
            engine.dispose()


def median_ms(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def fingerprint_cost(kind: str, tmp: Path, repeat: int) -> tuple[float, float, float]:
    """Fingerprint, Inspector reflection and a one-revision upgrade (ms) on 200 tables."""
    with wide_schema(kind, tmp) as url:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            digest_ms = median_ms(lambda: fingerprint(connection), repeat)
            reflect_ms = median_ms(lambda: reflect(connection), max(3, repeat // 3))
        engine.dispose()
        root = tmp / f"upgrade-{kind}"
        (root / "projects").mkdir(parents=True)
        os.environ["WIDE_DATABASE_URL"] = url
        runner(root, "new", "wide")
        versions = root / "projects" / "wide" / "versions"
        (versions / "one.py").write_text(
            LATER.format(n=1, down="x").replace('down_revision = "x"', "down_revision = None")
        )
        started = time.perf_counter()
        assert runner(root, "upgrade", "wide") == 0
        upgrade_ms = (time.perf_counter() - started) * 1000
        del os.environ["WIDE_DATABASE_URL"]
    return digest_ms, reflect_ms, upgrade_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        build_group(root)
        replica, quick, ratio = summary(interleaved(root, args.repeat, 0))
        quick_process = as_process(root, "drift", "shop", "--group", "tenants", "--quick")
        replica_process = as_process(root, "drift", "shop", "--group", "tenants")
        with sqlite3.connect(root / "var" / "tenants" / "t07.sqlite") as connection:
            connection.execute("ALTER TABLE customers ADD COLUMN phone TEXT")
        replica_1, quick_1, ratio_1 = summary(interleaved(root, args.repeat, 7))
        kinds = ["sqlite"] + (["postgresql"] if os.environ.get("RUNNER_TEST_POSTGRES_URL") else [])
        costs = {kind: fingerprint_cost(kind, Path(tmp), 15) for kind in kinds}
    lines = [
        "## drift --quick vs drift (benchmarks/bench_drift.py)",
        "",
        f"A group of {TENANTS} SQLite databases (an adopted hand-made schema, ten revisions on"
        " top); both commands in one run, in turns, timed in the process after the imports,"
        f" median of {args.repeat}:",
        "",
        "| group | `drift` (a replica per target) | `drift --quick` (fingerprints) | ratio |",
        "|---|---|---|---|",
        f"| as deployed, no drift | {replica:.3f} s ({replica / TENANTS * 1000:.0f} ms/target)"
        f" | {quick:.3f} s ({quick / TENANTS * 1000:.0f} ms/target) | **{ratio:.1f}x** |",
        f"| one tenant changed by hand | {replica_1:.3f} s | {quick_1:.3f} s (one replica, for"
        f" that tenant) | {ratio_1:.1f}x |",
        "",
        f"`--quick` is **{ratio:.1f}x** faster on the group as deployed (median of the paired"
        " ratios; the issue asks for at least 5x). As new processes, start-up included:"
        f" {replica_process:.2f} s against {quick_process:.2f} s.",
        "",
        "What the fingerprint after each write costs, on 200 tables (six columns, two"
        " indexes and a foreign key each), median of 15:",
        "",
        "| dialect | fingerprint (one catalog query) | Inspector reflection | a one-revision"
        " upgrade there, fingerprint included |",
        "|---|---|---|---|",
    ]
    lines += [f"| {kind} | {d:.1f} ms | {r:.0f} ms | {u:.0f} ms |"
              for kind, (d, r, u) in costs.items()]  # fmt: skip
    body = "\n".join(lines)
    print(body)
    update_section("drift", body)
    if ratio < 5:
        raise SystemExit(f"drift --quick is only {ratio:.1f}x faster than drift (want >= 5x)")
    if ratio_1 < 2:
        raise SystemExit(f"with one drifted tenant, drift --quick is only {ratio_1:.1f}x faster")


if __name__ == "__main__":
    main()
