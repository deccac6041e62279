"""Check the local database images of docker/db-images.sh through the runner's own
testcontainers path (runner.db.scratch.start_container, what `runner test --db ...`
and the test suite use without a server URL).

    .venv/bin/python docker/check_db_images.py            # both backends
    .venv/bin/python docker/check_db_images.py --backend mysql --copies 1

For each backend it starts ``--copies`` containers (default 2) at once, so that they
are seen not to collide with each other or with the machine's own servers on 5432 /
3306. On each: SQLAlchemy (psycopg, pymysql) connects with the URL testcontainers
gives, ``runner.db.scratch.fresh_database`` creates and drops a database, a table is
made, written and queried. Then the containers stop. Last, a container that never
gets ready (the PostgreSQL wait on the MariaDB image) must be removed too. Every step
is timed; afterwards ``docker ps -a`` must list exactly the containers it listed
before.

Settings (environment), each set to what docker/db-images.sh prints unless set:
  RUNNER_TEST_POSTGRES_IMAGE  docker-alembic-postgres:15
  RUNNER_TEST_MYSQL_IMAGE     docker-alembic-mariadb:10.11
  RUNNER_TEST_DOCKER_NETWORK  docker-alembic
  TESTCONTAINERS_RYUK_DISABLED  true: Ryuk's image cannot be pulled here

Exit status 0 when every check passed, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LOCAL_IMAGES = {
    "RUNNER_TEST_POSTGRES_IMAGE": "docker-alembic-postgres:15",
    "RUNNER_TEST_MYSQL_IMAGE": "docker-alembic-mariadb:10.11",
    "RUNNER_TEST_DOCKER_NETWORK": "docker-alembic",
    # testcontainers reads it when the first container starts.
    "TESTCONTAINERS_RYUK_DISABLED": "true",
}
for _name, _value in LOCAL_IMAGES.items():
    os.environ.setdefault(_name, _value)

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import URL  # noqa: E402

from runner.db import backends, scratch  # noqa: E402
from runner.errors import RunnerError  # noqa: E402

BACKENDS = ("postgresql", "mysql")


class CheckFailed(Exception):
    pass


TIMES: list[tuple[str, float]] = []


@contextmanager
def step(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - started
        TIMES.append((name, seconds))
        print(f"  {seconds:7.2f}s  {name}", flush=True)


def all_containers() -> set[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Image}} {{.Status}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line for line in out.splitlines() if line.strip()}


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def exercise(backend: str, admin: URL, label: str) -> None:
    """fresh_database as the runner uses it; a table made, written and read in it."""
    with step(f"{label}: create database, table, insert, query, drop database"):
        with scratch.fresh_database(admin, prefix="dalembic_check_") as url:
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            try:
                with engine.begin() as connection:
                    connection.exec_driver_sql(
                        "CREATE TABLE check_items (id INTEGER PRIMARY KEY, name VARCHAR(40))"
                    )
                    connection.exec_driver_sql(
                        "INSERT INTO check_items (id, name) VALUES (1, 'one'), (2, 'two')"
                    )
                    rows = connection.exec_driver_sql(
                        "SELECT name FROM check_items ORDER BY id"
                    ).all()
            finally:
                engine.dispose()
            if [row[0] for row in rows] != ["one", "two"]:
                raise CheckFailed(f"{label}: the query returned {rows!r}")
            name = url.database
        engine = sa.create_engine(admin, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                if backend == "postgresql":
                    sql = "SELECT datname FROM pg_database"
                else:
                    sql = "SHOW DATABASES"
                left = {row[0] for row in connection.exec_driver_sql(sql)}
        finally:
            engine.dispose()
        if name in left:
            raise CheckFailed(f"{label}: database {name} was not dropped")


def check_backend(backend: str, copies: int) -> None:
    kind = backends.backend(backend)
    image = scratch.container_image(kind)
    network = os.environ.get(scratch.NETWORK_VARIABLE) or "default"
    print(f"{backend}: {copies} x {image} (network {network})")
    running: list[Any] = []
    try:
        urls = []
        for n in range(copies):
            with step(f"{backend}#{n + 1}: start to ready"):
                container, url = scratch.start_container(kind)
            running.append(container)
            urls.append(url)
            print(f"           {url.render_as_string(hide_password=True)}")
        seen = {(url.host, url.port) for url in urls}
        if len(seen) != len(urls):
            raise CheckFailed(f"{backend}: two containers got the same address: {urls}")
        for n, url in enumerate(urls):
            with step(f"{backend}#{n + 1}: first connection"):
                engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
                try:
                    with engine.connect() as connection:
                        version = connection.exec_driver_sql("SELECT version()").scalar()
                finally:
                    engine.dispose()
            print(f"           {version}")
            exercise(backend, url, f"{backend}#{n + 1}")
    finally:
        for n, container in enumerate(running):
            with step(f"{backend}#{n + 1}: stop"):
                container.stop()


def check_failed_start() -> None:
    """A container that never gets ready is removed, not left running."""
    from testcontainers.core.config import testcontainers_config

    postgres = backends.backend("postgresql")
    variable = postgres.container_image_variable
    assert variable is not None
    saved = testcontainers_config.max_tries, os.environ[variable]
    testcontainers_config.max_tries = 3  # seconds, at one poll a second
    os.environ[variable] = scratch.container_image(backends.backend("mysql"))
    try:
        with step("postgresql wait on the MariaDB image: fails, container removed"):
            try:
                container, _ = scratch.start_container(postgres)
            except RunnerError as exc:
                print(f"           failed as it should: {exc}")
            else:
                container.stop()
                raise CheckFailed("a PostgreSQL wait on the MariaDB image succeeded")
    finally:
        testcontainers_config.max_tries, os.environ[variable] = saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--copies", type=int, default=2, help="containers at once (default 2)")
    parser.add_argument("--skip-failure-case", action="store_true")
    args = parser.parse_args()

    if not scratch.docker_answers():
        print("check_db_images: no Docker engine answers (run docker/engine.sh)", file=sys.stderr)
        return 1
    before = all_containers()
    own = {port: listening(port) for port in (5432, 3306)}
    started = time.perf_counter()
    try:
        for backend in args.backend or BACKENDS:
            check_backend(backend, args.copies)
        if not args.skip_failure_case:
            check_failed_start()
        left = all_containers() - before
        if left:
            raise CheckFailed("containers left behind: " + "; ".join(sorted(left)))
        moved = [port for port, was in own.items() if was and not listening(port)]
        if moved:
            raise CheckFailed(f"the machine's own servers stopped listening on {moved}")
    except CheckFailed as exc:
        print(f"check_db_images: FAILED: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"check_db_images: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        left = all_containers() - before
        if left:
            print(f"check_db_images: left behind: {sorted(left)}", file=sys.stderr)
    print(f"all checks passed in {time.perf_counter() - started:.1f}s; docker ps -a as before")
    return 0


if __name__ == "__main__":
    sys.exit(main())
