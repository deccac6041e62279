"""The Docker image, for real: build it once, run the seed's quickstart through it.

Needs a Docker engine (``bash docker/engine.sh`` starts one on a CI-like
machine). Without one every test here is skipped, unless ``CI`` and
``RUNNER_TEST_DOCKER=1`` are both set: then CI promised an engine and its
absence is a failure.

Environment:
- ``RUNNER_TEST_BASE_IMAGE``: FROM image. Unset: ``python:3.11-slim`` if the
  engine has it, else the ``docker-alembic-base:bookworm`` that docker/engine.sh
  makes where no registry is reachable; nothing is ever pulled.
- ``RUNNER_TEST_IMAGE_TAG``: tag to build (default ``docker-alembic:test``).
- The PostgreSQL server the suite finds (``RUNNER_TEST_POSTGRES_URL``, else
  127.0.0.1:5432), reachable from the host network; a fresh database is created
  for the test and dropped.

Under xdist they share one worker (``xdist_group``), so the image is built once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.databases import ServerPool

# One worker builds the image and runs every test on it (pytest -n: --dist loadgroup).
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("docker-image")]

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "docker" / "build_image.py"
DEFAULT_BASE_IMAGE = "python:3.11-slim"
ENGINE_SH_BASE_IMAGE = "docker-alembic-base:bookworm"  # what docker/engine.sh makes, unset
DEFAULT_TAG = "docker-alembic:test"
IMAGE_UID = 10001
# The uid that writes through the mounts with --user: the caller's, or a
# non-root one when the caller is root, so ownership is really tested.
CALLER_UID, CALLER_GID = (os.getuid(), os.getgid()) if os.getuid() else (4321, 4321)
PROJECT = "demo"

UPGRADE_BODY = """def upgrade() -> None:
    op.execute("CREATE TABLE foo (field1 text, field2 text)")
    op.execute("INSERT INTO foo VALUES('hello','world')")


def downgrade() -> None:
    op.execute("DROP TABLE foo")
"""


def _docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"docker {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def _engine_problem() -> str | None:
    """Why no Docker engine can be used, or None when one answers."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30s"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"`docker info` failed: {last}"
    return None


@pytest.fixture(scope="module")
def engine() -> None:
    problem = _engine_problem()
    if problem is None:
        return
    if os.environ.get("CI") and os.environ.get("RUNNER_TEST_DOCKER") == "1":
        pytest.fail(f"CI promised a Docker engine (RUNNER_TEST_DOCKER=1) but {problem}")
    pytest.skip(f"no Docker engine: {problem} (run `bash docker/engine.sh` to start one)")


def _present(image: str) -> bool:
    inspected = subprocess.run(["docker", "image", "inspect", image], capture_output=True,
                               check=False)  # fmt: skip
    return inspected.returncode == 0


@pytest.fixture(scope="module")
def image(engine: None) -> str:
    """Build the image once for this module, with docker/build_image.py."""
    tag = os.environ.get("RUNNER_TEST_IMAGE_TAG") or DEFAULT_TAG
    chosen = os.environ.get("RUNNER_TEST_BASE_IMAGE")
    candidates = [chosen] if chosen else [DEFAULT_BASE_IMAGE, ENGINE_SH_BASE_IMAGE]
    base = next((c for c in candidates if _present(c)), candidates[0])
    if not _present(base):  # never let a test pull from a registry
        problem = f"base image {base} is not on this engine (set RUNNER_TEST_BASE_IMAGE)"
        if os.environ.get("CI") and os.environ.get("RUNNER_TEST_DOCKER") == "1":
            pytest.fail(problem)
        pytest.skip(problem + "; `bash docker/engine.sh` builds one without a registry")
    # --network none: proves the build needs no network at all.
    command = [sys.executable, str(BUILD_SCRIPT), "--tag", tag, "--base-image", base]
    command += ["--network", "none"]
    # Same inputs (sources, packaging, Dockerfile, base image) as the last build:
    # the image on the engine is that build; RUNNER_TEST_IMAGE_REBUILD=1 forces one.
    if os.environ.get("RUNNER_TEST_IMAGE_REBUILD") != "1":
        command.append("--reuse")
    lock_path = REPO_ROOT / "build" / ".image-build.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:  # one build at a time: they share build/wheels
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False
        )
    if result.returncode != 0:
        pytest.fail(
            f"image build failed ({result.returncode})\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-4000:]}"
        )
    return tag


@dataclass
class Workdir:
    """A host folder with projects/ and var/, mounted into the container."""

    projects: Path
    var: Path

    def mounts(self) -> list[str]:
        return ["-v", f"{self.projects}:/app/projects", "-v", f"{self.var}:/app/var"]


@pytest.fixture
def workdir(tmp_path: Path) -> Workdir:
    wd = Workdir(projects=tmp_path / "projects", var=tmp_path / "var")
    for folder in (wd.projects, wd.var):
        folder.mkdir()
        if os.getuid() == 0:
            os.chown(folder, CALLER_UID, CALLER_GID)
    return wd


def run_image(
    image: str,
    wd: Workdir,
    *args: str,
    network: str = "none",
    env: Sequence[str] = (),
    extra: Sequence[str] = (),
    expect: int = 0,
) -> subprocess.CompletedProcess[str]:
    """``docker run`` the runner as the caller's uid, projects and var mounted."""
    options = ["--rm", "--network", network, "--user", f"{CALLER_UID}:{CALLER_GID}"]
    for item in env:
        options += ["-e", item]
    result = _docker("run", *options, *wd.mounts(), *extra, image, *args, check=False)
    assert result.returncode == expect, (
        f"runner {' '.join(args)}: exit {result.returncode}, expected {expect}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def write_seed_revision(wd: Workdir) -> Path:
    """``revision demo -m my_cool_revision`` then give it the seed's upgrade/downgrade."""
    revisions = sorted((wd.projects / PROJECT / "versions").glob("*my_cool_revision*.py"))
    assert len(revisions) == 1, revisions
    path = revisions[0]
    text = path.read_text(encoding="utf-8")
    head, sep, _ = text.partition("def upgrade() -> None:")
    assert sep, f"no upgrade() in {path}:\n{text}"
    path.write_text(head + UPGRADE_BODY, encoding="utf-8")
    return path


def create_seed_revision(image: str, wd: Workdir, *, env: Sequence[str] = ()) -> Path:
    run_image(image, wd, "new", PROJECT)
    run_image(image, wd, "revision", PROJECT, "-m", "my_cool_revision", env=env)
    return write_seed_revision(wd)


def revision_id(path: Path) -> str:
    match = re.search(r"^revision: str = ['\"](\w+)['\"]", path.read_text("utf-8"), re.M)
    assert match, f"no revision id in {path}"
    return match.group(1)


def sqlite_tables(path: Path) -> list[str]:
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]


def test_default_command_prints_help(image: str) -> None:
    result = _docker("run", "--rm", "--network", "none", image)
    assert "Usage" in result.stdout
    assert "upgrade" in result.stdout


def test_process_runs_as_non_root(image: str) -> None:
    result = _docker("run", "--rm", "--network", "none", "--entrypoint", "id", image, "-u")
    assert int(result.stdout.strip()) == IMAGE_UID
    config = _docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    assert config.split(":")[0] not in ("", "0", "root")


def test_image_labels_and_layout(image: str) -> None:
    labels = _docker(
        "image",
        "inspect",
        "--format",
        '{{index .Config.Labels "org.opencontainers.image.title"}}',
        image,
    ).stdout.strip()
    assert labels == "docker-alembic"
    script = "import os; print(all(os.access(p, os.W_OK) for p in ('/app/projects', '/app/var')))"
    result = _docker(
        "run", "--rm", "--network", "none", "--entrypoint", "python3", image, "-c", script
    )
    assert result.stdout.strip() == "True"


def test_seed_quickstart_on_sqlite(image: str, workdir: Workdir) -> None:
    revision = create_seed_revision(image, workdir)
    # Written through the mount by the container: the caller owns it.
    assert revision.stat().st_uid == CALLER_UID
    assert (workdir.projects / PROJECT / "alembic.ini").stat().st_uid == CALLER_UID

    run_image(image, workdir, "upgrade", PROJECT)
    database = workdir.var / f"{PROJECT}.sqlite"
    assert database.stat().st_uid == CALLER_UID

    # Look at the table inside the image, nothing installed: the seed's sqlite3 step.
    query = run_image(
        image, workdir, PROJECT, "SELECT * FROM foo", extra=["--entrypoint", "sqlite-query"]
    )
    assert query.stdout.splitlines() == ["hello|world"]
    assert "foo" in sqlite_tables(database)

    status = json.loads(run_image(image, workdir, "status", PROJECT, "--json").stdout)
    [project] = status["projects"]
    assert project["current"] == [revision_id(revision)]
    assert project["up_to_date"] is True

    run_image(image, workdir, "downgrade", PROJECT, "base")
    assert "foo" not in sqlite_tables(database)
    query = run_image(image, workdir, PROJECT, extra=["--entrypoint", "sqlite-query"])
    assert "foo" not in query.stdout.split()


def test_secret_url_stays_out_of_image_and_output(image: str, workdir: Workdir) -> None:
    """A password given at run time (env and *_FILE) is in no layer and no output."""
    secret = f"pw-{uuid.uuid4().hex}"
    run_image(image, workdir, "new", PROJECT)
    # Port 1 on loopback: refused at once, so the runner reports "unreachable".
    url = f"mysql://root:{secret}@127.0.0.1:1/nowhere"
    secret_file = workdir.var / "url.secret"
    secret_file.write_text(url + "\n", encoding="utf-8")
    os.chmod(secret_file, 0o644)
    by_env = run_image(
        image,
        workdir,
        "status",
        PROJECT,
        network="host",
        env=[f"DEMO_DATABASE_URL={url}"],
        expect=3,
    )
    by_file = run_image(
        image,
        workdir,
        "status",
        PROJECT,
        network="host",
        env=["DEMO_DATABASE_URL_FILE=/run/secrets/demo_url"],
        extra=["-v", f"{secret_file}:/run/secrets/demo_url:ro"],
        expect=3,
    )
    for result in (by_env, by_file):
        assert secret not in result.stdout + result.stderr
    history = _docker("history", "--no-trunc", image).stdout
    inspect = _docker("image", "inspect", image).stdout
    for text in (history, inspect):
        assert secret not in text
        assert not re.search(r"(?i)(password|passwd|secret|token)=\S", text)


@pytest.fixture
def postgres_url(servers: ServerPool) -> Iterator[URL]:
    """A fresh PostgreSQL database (with a run-time password in its URL), dropped after.

    The server must be reachable from the host network (the container runs with
    ``--network host``): the one the suite found without starting a container."""
    admin_url = servers.locate("postgresql")
    if admin_url is None:
        pytest.skip(f"no PostgreSQL server on the host network: {servers.why('postgresql')}")
    name = f"dalembic_img_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        # Trust auth ignores the password; a real one is kept as is.
        password = admin_url.password or f"pw-{uuid.uuid4().hex}"
        yield admin_url.set(database=name, password=password)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


@pytest.mark.postgresql
def test_seed_quickstart_on_postgres(image: str, workdir: Workdir, postgres_url: URL) -> None:
    secret = str(postgres_url.password)
    url = postgres_url.render_as_string(hide_password=False)
    env = [f"DEMO_DATABASE_URL={url}"]
    create_seed_revision(image, workdir)

    upgrade = run_image(image, workdir, "upgrade", PROJECT, network="host", env=env)
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT field1, field2 FROM foo").all()
        assert [tuple(r) for r in rows] == [("hello", "world")]

        # The same URL as a mounted secret file.
        secret_file = workdir.var / "pg.secret"
        secret_file.write_text(url, encoding="utf-8")
        os.chmod(secret_file, 0o644)
        file_env = ["DEMO_DATABASE_URL_FILE=/run/secrets/pg"]
        mount = ["-v", f"{secret_file}:/run/secrets/pg:ro"]
        status = run_image(
            image, workdir, "status", PROJECT, "--json", network="host", env=file_env, extra=mount
        )
        downgrade = run_image(
            image, workdir, "downgrade", PROJECT, "base", network="host", env=file_env, extra=mount
        )
        with engine.connect() as conn:
            exists = conn.exec_driver_sql("SELECT to_regclass('public.foo')").scalar()
        assert exists is None
    finally:
        engine.dispose()

    for result in (upgrade, status, downgrade):
        assert secret not in result.stdout + result.stderr
    assert secret not in _docker("history", "--no-trunc", image).stdout
    assert secret not in _docker("image", "inspect", image).stdout


def test_repo_example_project_read_only_mount(image: str, tmp_path: Path) -> None:
    """The issue's `docker run --rm -v "$PWD/projects:/app/projects" IMAGE upgrade example`.

    With the image's own user and projects mounted read-only: upgrade and
    downgrade write nothing into projects/ (no __pycache__ either).
    """
    source = REPO_ROOT / "projects" / "example"
    if not (source / "alembic.ini").is_file():
        pytest.skip("the repository has no projects/example")
    projects = tmp_path / "projects"
    # Only what git tracks: a host run may have left __pycache__ beside the revisions.
    shutil.copytree(source, projects / "example", ignore=shutil.ignore_patterns("__pycache__"))
    mount = ["-v", f"{projects}:/app/projects:ro"]
    base = ["run", "--rm", "--network", "none", *mount, image]
    _docker(*base, "upgrade", "example")
    # Both steps in one container, so the SQLite file in /app/var survives between them.
    script = (
        "runner upgrade example && runner status example --json && runner downgrade example base"
    )
    result = _docker(
        "run", "--rm", "--network", "none", *mount, "--entrypoint", "sh", image, "-c", script
    )
    status = json.loads(result.stdout[result.stdout.index("{") : result.stdout.rindex("}") + 1])
    assert status["projects"][0]["up_to_date"] is True
    assert not list(projects.rglob("__pycache__"))


def test_unwritable_mounts_say_whose_files_to_run_as(image: str, tmp_path: Path) -> None:
    """Folders the image's own user cannot write: one line saying to run as their owner."""
    wd = Workdir(projects=tmp_path / "projects", var=tmp_path / "var")
    for folder in (wd.projects, wd.var):
        folder.mkdir(mode=0o755)  # the caller's, not the image user's (10001)
    base = ["run", "--rm", "--network", "none", *wd.mounts(), image]
    refused = _docker(*base, "new", PROJECT, check=False)
    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.splitlines()
    assert line.startswith("error: no permission")
    assert '--user "$(id -u):$(id -g)"' in line
    assert "internal error" not in refused.stderr

    # The caller's projects are writable, the database folder (someone else's) is not.
    if os.getuid() == 0:
        os.chown(wd.projects, CALLER_UID, CALLER_GID)
    run_image(image, wd, "new", PROJECT)
    as_caller = ["--user", f"{CALLER_UID}:{CALLER_GID}"]
    refused = _docker(*base[:4], *as_caller, *base[4:], "upgrade", PROJECT, check=False)
    assert refused.returncode == 2, refused.stderr
    last = refused.stderr.splitlines()[-1]
    assert last.startswith("error: demo: cannot open the database file /app/var/demo.sqlite")
    assert "internal error" not in refused.stderr
    assert '--user "$(id -u):$(id -g)"' in last


def test_list_with_nothing_mounted_says_where_it_looked(image: str) -> None:
    listed = _docker("run", "--rm", "--network", "none", image, "list")
    assert "no projects under /app/projects" in listed.stdout
    assert "-v" in listed.stdout
