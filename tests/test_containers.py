"""The testcontainers path, for real (issue 19): with no server URL, ``runner test --db
postgresql|mysql`` starts a container from the image named in its variable, runs real
migrations in it and removes it; a container that fails to start is removed too, and
every failure is one ``error:`` line saying what to set.

Runs the CLI as a subprocess, as make and CI do, so the process id on the container's
``docker-alembic.pid`` label tells this test's containers from those of the workers
next to it; ``docker events`` then says which were started, ``docker ps -a`` which
are left.

Needs a Docker engine and images that start without a pull (a test never pulls):
``RUNNER_TEST_POSTGRES_IMAGE`` / ``RUNNER_TEST_MYSQL_IMAGE``, with
``RUNNER_TEST_DOCKER_NETWORK`` where the engine's default network publishes no
port; ``eval "$(bash docker/db-images.sh)"`` builds local ones and sets all three.
Without them the tests skip, saying what to set; with ``CI`` and
``RUNNER_TEST_DOCKER=1`` they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.db import backends, scratch
from tests.conftest import load_scenario

pytestmark = [pytest.mark.docker]

SERVERS = [pytest.param("postgresql", id="postgresql"), pytest.param("mysql", id="mysql")]
# An image on a registry that cannot answer: the pull fails at once, on loopback only.
UNPULLABLE = "127.0.0.1:9/docker-alembic-absent:1"


def _promised() -> bool:
    return bool(os.environ.get("CI")) and os.environ.get("RUNNER_TEST_DOCKER") == "1"


def _unavailable(reason: str) -> None:
    if _promised():
        pytest.fail(f"CI promised Docker and the database images (RUNNER_TEST_DOCKER=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def engine() -> None:
    if shutil.which("docker") is None or not scratch.docker_answers():
        _unavailable("no Docker engine answers (bash docker/engine.sh starts one)")


def _image(backend: str) -> str:
    """The image named for ``backend``, present on the engine (else skip or fail)."""
    variable = backends.backend(backend).container_image_variable
    assert variable is not None
    image = os.environ.get(variable)
    if not image:
        _unavailable(f'set {variable} (eval "$(bash docker/db-images.sh)" names a local build)')
    assert image is not None
    present = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, check=False
    )
    if present.returncode != 0:
        _unavailable(f"{variable}={image} is not on the Docker engine (this test never pulls)")
    return image


@dataclass(frozen=True)
class Run:
    """One ``python -m runner`` run and the containers it started."""

    code: int
    out: str
    err: str
    started: list[str]  # ids of containers it started (docker events)
    created: list[str]  # ids of containers it created, started or not
    left: list[str]  # ids of its containers still on the engine afterwards


def _docker(*args: str) -> list[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.split()


def runner(root: Path, *args: str, env: Mapping[str, str | None]) -> Run:
    """``python -m runner ARGS`` with no server URL and ``env`` (None unsets a variable)."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in {"RUNNER_TEST_POSTGRES_URL", "RUNNER_TEST_MYSQL_URL"}
    }
    # testcontainers' clean-up container would be pulled: this test checks clean-up itself.
    environ.setdefault(scratch.RYUK_VARIABLE, "true")
    for key, value in env.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    environ["RUNNER_ROOT"] = str(root)
    since = str(int(time.time()) - 1)  # whole seconds: one early is fine, the pid filters
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=300)
    until = str(int(time.time()) + 1)
    label = f"label={scratch.PID_LABEL}={proc.pid}"

    def events(kind: str) -> list[str]:
        return _docker(
            "events", "--since", since, "--until", until, "--format", "{{.ID}}",
            "--filter", "type=container", "--filter", f"event={kind}", "--filter", label,
        )  # fmt: skip

    left = _docker("ps", "-a", "-q", "--no-trunc", "--filter", label)
    return Run(proc.returncode, out, err, events("start"), events("create"), left)


@pytest.mark.parametrize("backend", SERVERS)
def test_runner_test_starts_a_container_and_removes_it(
    backend: str, engine: None, root: Path
) -> None:
    """No URL, an image named: real migrations in a container of our own, gone after."""
    load_scenario("roundtrip_clean", root)
    image = _image(backend)
    done = runner(root, "test", "shop", "--db", backend, "--json", env={})
    assert done.code == 0, done.out + done.err
    assert len(done.started) == 1, done
    assert done.left == [], f"containers left behind: {done.left}"
    [project] = json.loads(done.out)["projects"]
    assert project["passed"] is True
    assert [case["status"] for case in project["cases"]] == ["passed"] * 5
    label = backends.backend(backend).label
    started = re.search(
        rf"started a {re.escape(label)} container from {re.escape(image)} at (\S+) ", done.err
    )
    assert started is not None, done.err
    # The round trip ran on that container, not on a server of the machine's.
    assert f"@{started.group(1)}/dalembic_rt_" in project["url"]
    assert ":***@" in project["url"]


def test_a_container_that_never_gets_ready_is_removed(engine: None, root: Path) -> None:
    """A PostgreSQL wait on the MariaDB image times out: exit 2 naming the variable,
    the password masked in the traceback, and no container left running."""
    load_scenario("roundtrip_clean", root)
    wrong = _image("mysql")
    done = runner(
        root, "test", "shop", "--db", "postgresql",
        env={"RUNNER_TEST_POSTGRES_IMAGE": wrong, "TC_MAX_TRIES": "3", "RUNNER_DEBUG": "1"},
    )  # fmt: skip
    assert done.code == 2, done.err
    assert len(done.created) == 1, done
    assert done.left == [], f"a failed start left its container: {done.left}"
    last = done.err.strip().splitlines()[-1]
    assert last.startswith(f"error: no postgresql container started from {wrong}: it was not ready")
    assert "set RUNNER_TEST_POSTGRES_IMAGE" in last
    assert "RUNNER_TEST_POSTGRES_URL" in last
    # testcontainers' own message holds its readiness command, password and all.
    assert "PGPASSWORD='***'" in done.err


@pytest.mark.parametrize(
    ("env", "names"),
    [
        pytest.param(
            {"RUNNER_TEST_POSTGRES_IMAGE": UNPULLABLE},
            ["RUNNER_TEST_POSTGRES_IMAGE", "docker/db-images.sh"],
            id="image-not-on-the-engine",
        ),
        pytest.param(
            {scratch.RYUK_VARIABLE: "false", "RYUK_CONTAINER_IMAGE": UNPULLABLE},
            [f"{scratch.RYUK_VARIABLE}=true"],
            id="ryuk-not-on-the-engine",
        ),
        pytest.param(
            {scratch.NETWORK_VARIABLE: "docker-alembic-no-such-network"},
            [f"unset {scratch.NETWORK_VARIABLE}", "docker network create"],
            id="network-not-on-the-engine",
        ),
    ],
)
def test_what_stops_a_container_is_one_line_naming_what_to_set(
    env: dict[str, str], names: list[str], engine: None, root: Path
) -> None:
    load_scenario("roundtrip_clean", root)
    if scratch.NETWORK_VARIABLE in env:  # that check comes after the image's
        _image("postgresql")
    done = runner(root, "test", "shop", "--db", "postgresql", env=env)
    assert done.code == 2, done.err
    [line] = done.err.strip().splitlines()
    assert line.startswith("error: no postgresql container started from "), line
    for name in names:
        assert name in line
    assert "or set RUNNER_TEST_POSTGRES_URL to an admin URL" in line
    assert done.left == []


def test_a_named_image_without_a_container_fails_the_suite_under_ci(
    engine: None, tmp_path: Path
) -> None:
    """.ci/run's second pass names the images: a database test that gets no container
    then fails; outside CI it skips, saying why."""
    test = "tests/test_quickstart.py::test_seed_quickstart[postgresql]"
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in {"RUNNER_TEST_POSTGRES_URL", "CI", "PYTEST_XDIST_WORKER"}
    }
    environ |= {
        "RUNNER_TEST_PROBE_LOCAL": "0",
        "RUNNER_TEST_POSTGRES_IMAGE": UNPULLABLE,
        scratch.RYUK_VARIABLE: "true",  # else the missing Ryuk image is what the error names
    }
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-rs", test]
    repo = Path(__file__).resolve().parent.parent

    def pytest_run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=repo, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    outside = pytest_run(environ)
    assert outside.returncode == 0, outside.stdout
    assert "1 skipped" in outside.stdout
    assert "RUNNER_TEST_POSTGRES_IMAGE to a local image" in outside.stdout
    under_ci = pytest_run({**environ, "CI": "true"})
    assert under_ci.returncode == 1, under_ci.stdout
    assert "1 error" in under_ci.stdout  # in the db fixture's setup
    assert "RUNNER_TEST_POSTGRES_IMAGE is set but no container serves" in under_ci.stdout
