"""The first hour of a DBA and of an Alembic developer: what the README and `make help`
say works as written, and the output says what happened without surprises."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner, load_scenario
from tests.databases import Database

RUFF = Path(sys.executable).with_name("ruff")


def _ruff(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")  # the repository's rules
    return subprocess.run([str(RUFF), *args], cwd=root, capture_output=True, text=True, check=False)


def test_what_new_revision_and_merge_write_passes_make_lint(run: Runner, root: Path) -> None:
    run.ok("new", "demo")
    run.ok("revision", "demo", "-m", "first")
    run.ok("revision", "demo", "-m", "plain sql", "--sql")
    run.ok("revision", "demo", "-m", "a branch", "--head", "base", "--branch-label", "side")
    run.ok("merge", "demo")
    for check in (["check", "projects"], ["format", "--check", "projects"]):
        outcome = _ruff(root, *check)
        assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    findings = json.loads(run("lint", "demo", "--json").out)["projects"][0]["findings"]
    merge = [f for f in findings if f["rule"] == "no-downgrade" and "merge" in (f["path"] or "")]
    assert not merge, "a merge revision's empty downgrade() is correct"


def test_a_branch_is_started_with_splice(run: Runner, root: Path) -> None:
    run.ok("new", "demo")
    first = run.ok("revision", "demo", "-m", "first").out.split()[2].rstrip(":")
    run.ok("revision", "demo", "-m", "second")
    refused = run("revision", "demo", "-m", "side", "--head", first)
    assert refused.code == 2
    assert "--splice" in refused.err
    run.ok("revision", "demo", "-m", "side", "--head", first, "--splice", "--branch-label", "b")
    heads = json.loads(run.ok("heads", "demo", "--json").out)["projects"][0]["revisions"]
    assert len(heads) == 2


def test_secret_files_are_ignored_by_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(REPO / ".gitignore", tmp_path / ".gitignore")
    (tmp_path / "demo_url.secret").write_text("postgresql://u:pw@h/db")
    ignored = subprocess.run(["git", "-C", str(tmp_path), "check-ignore", "demo_url.secret"],
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert ignored.returncode == 0


def test_base_is_named_and_downgrades_read_downwards(run: Runner, root: Path, db: Database) -> None:
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = db.url_string
    upgraded = run.ok("upgrade", "alpha")
    assert "upgrade base -> a1, create orders" in upgraded.err
    assert "  ->" not in upgraded.output
    assert "Running upgrade" not in upgraded.err  # one line per step, ours
    downgraded = run.ok("downgrade", "alpha", "base")
    assert "downgrade a1 -> base, create orders" in downgraded.err
    assert downgraded.out.splitlines()[1:] == [
        "  a2 -> a1  add orders.note",
        "  a1 -> base  create orders",
    ]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["upgrade", "alpha", "deadbeef"],
            "unknown revision 'deadbeef' (see: runner history alpha",
        ),
        (["upgrade", "alpha", "+5"], "fewer than 5 revisions above"),
        (["downgrade", "alpha", "-5"], "fewer than 5 revisions below"),
    ],
)
def test_alembic_errors_come_with_what_to_do(
    run: Runner, root: Path, args: list[str], needle: str
) -> None:
    load_scenario("two_projects", root)
    run.ok("upgrade", "alpha", "a1")
    outcome = run(*args)
    assert outcome.code == 2
    assert needle in outcome.err


def test_downgrade_minus_one_at_a_merge_names_the_parents(run: Runner, root: Path) -> None:
    load_scenario("branches", root)
    run.ok("upgrade", "tree", "heads")
    outcome = run("downgrade", "tree", "-1")
    assert outcome.code == 2
    assert "r2a or r2b" in outcome.err
    assert "runner downgrade tree r2a" in outcome.err


def test_status_is_one_table_and_history_marks_what_is_applied(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    run.ok("upgrade", "alpha", "a1")
    table = run.ok("status").out.splitlines()
    assert table[0].split() == ["PROJECT", "STATE", "CURRENT", "HEAD", "PENDING", "LAST", "CHANGE"]
    assert table[1].split()[:5] == ["alpha", "behind", "a1", "a2", "1"]
    history = run.ok("history", "alpha").out.splitlines()
    assert history[0].startswith("  a1 -> a2")
    assert history[1].startswith("* base -> a1")
    assert history[1].endswith("<- current")
    document = json.loads(run.ok("history", "alpha", "--json").out)["projects"][0]
    assert [r["applied"] for r in document["revisions"]] == [False, True]
    assert run.ok("current", "alpha").out.startswith("alpha: at a1")
    shown = run.ok("show", "alpha", "a2").out
    assert "parents   a1" in shown
    assert "checksum" in shown


def test_an_edited_applied_revision_shows_in_status(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    run.ok("upgrade", "alpha")
    path = root / "projects" / "alpha" / "versions" / "a1_orders.py"
    path.write_text(path.read_text() + "\n# edited\n")
    outcome = run("status", "alpha", "--json")
    assert outcome.code == 4
    assert json.loads(outcome.out)["projects"][0]["verify_problems"] == ["edited a1"]


def test_plan_up_to_a_revision_and_the_rollback_sql(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    up_to_a1 = json.loads(run.ok("plan", "alpha", "a1", "--json").out)["projects"][0]
    assert [r["revision"] for r in up_to_a1["revisions"]] == ["a1"]
    assert up_to_a1["after"] == ["a1"]
    plan_file = root / "a1.plan"
    run.ok("plan", "alpha", "a1", "--out", str(plan_file))
    run.ok("apply", str(plan_file))  # the saved plan goes to a1, not to the heads
    run.ok("upgrade", "alpha")
    rollback = run.ok("plan", "alpha", "--down", "base").out
    assert "2 revision(s) to undo" in rollback
    assert "DROP TABLE orders" in rollback
    assert "ALTER TABLE" in rollback  # a2's downgrade (batch copy on SQLite)
    assert json.loads(run.ok("status", "alpha", "--json").out)["projects"][0]["current"] == ["a2"]
    assert run("plan", "alpha", "--down", "base", "--out", str(plan_file)).code == 2
    assert "DROP TABLE" not in run.ok("upgrade", "alpha", "--sql").out  # alias of plan


def test_autogenerate_compares_target_metadata_with_the_database(run: Runner, root: Path) -> None:
    run.ok("new", "models")
    refused = run("revision", "models", "-m", "nothing to compare", "--autogenerate")
    assert refused.code == 2
    assert "target_metadata" in refused.err
    env_py = root / "projects" / "models" / "env.py"
    env_py.write_text(env_py.read_text().replace(
        "target_metadata = None",
        "import sqlalchemy as sa\ntarget_metadata = sa.MetaData()\n"
        "sa.Table('invoices', target_metadata, sa.Column('id', sa.Integer, primary_key=True))",
    ))  # fmt: skip
    created = run.ok("revision", "models", "-m", "invoices", "--autogenerate")
    [path] = [root / f for f in created.out.split() if f.endswith(".py")]
    assert "op.create_table" in path.read_text()
    assert "'invoices'" in path.read_text() or '"invoices"' in path.read_text()


def test_log_has_a_header_the_database_user_and_lists_in_json(
    run: Runner, root: Path, db: Database
) -> None:
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = db.url_string
    run.ok("upgrade", "alpha")
    lines = run.ok("log", "alpha").out.splitlines()
    assert lines[0].split()[:4] == ["FINISHED", "(UTC)", "DIRECTION", "REVISION"]
    assert "DB USER" in lines[0]
    if db.url.username:
        assert db.url.username in lines[1]
    entries = json.loads(run.ok("log", "alpha", "--json").out)["projects"][0]["entries"]
    entries = [e for e in entries if e["direction"] != "fingerprint"]  # the schema's digests
    assert entries[-2]["down_revisions"] == []  # a1's parent is base
    assert entries[0]["down_revisions"] == ["a1"]


def test_json_refusals_print_json(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    path = root / "plan.json"
    run.ok("plan", "alpha", "--out", str(path))
    run.ok("upgrade", "alpha", "a1")  # the database moved: the plan is stale
    outcome = run("apply", str(path), "--json")
    assert outcome.code == 4
    document = json.loads(outcome.out)
    assert document["error"]["exit_code"] == 4
    assert "moved since the plan" in document["error"]["message"]


def test_repair_says_what_it_recorded_and_does_nothing_on_a_healthy_database(
    run: Runner, root: Path
) -> None:
    load_scenario("two_projects", root)
    run.ok("upgrade", "alpha")
    assert run.ok("repair", "alpha").out.startswith("alpha: nothing to repair")
    path = root / "projects" / "alpha" / "versions" / "a2_order_note.py"
    path.write_text(path.read_text() + "\n# edited\n")
    repaired = run.ok("repair", "alpha")
    assert "recorded      repair a2" in repaired.out
    document = json.loads(run.ok("repair", "alpha", "--json").out)["projects"][0]
    assert document["recorded"] == []


@pytest.fixture
def unwritable() -> Iterator[Callable[[Path], None]]:
    """Make a folder unwritable even for root (chattr +i), undone after the test."""
    made: list[Path] = []

    def freeze(path: Path) -> None:
        if os.getuid() != 0:
            path.chmod(0o555)
            made.append(path)
            return
        frozen = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if frozen.returncode:
            pytest.skip("running as root on a filesystem without chattr +i")
        made.append(path)

    yield freeze
    for path in made:
        if os.getuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o755)


def test_unwritable_folders_are_one_line_saying_what_to_do(
    run: Runner, root: Path, unwritable: Callable[[Path], None]
) -> None:
    (root / "projects").mkdir(exist_ok=True)
    unwritable(root / "projects")
    refused = run("new", "demo")
    assert refused.code == 2, refused.output
    [line] = refused.err.splitlines()
    assert line.startswith("error: no permission")
    assert str(root / "projects") in line
    assert '--user "$(id -u):$(id -g)"' in line

    load_scenario("two_projects", root / "other")
    run.root = root / "other"
    (run.root / "var").mkdir(exist_ok=True)
    unwritable(run.root / "var")
    refused = run("upgrade", "alpha")
    assert refused.code == 2, refused.output
    last = refused.err.splitlines()[-1]
    assert last.startswith("error: alpha: cannot open the database file")
    assert "must be writable by this user" in last


def test_list_without_projects_says_where_it_looked(run: Runner, root: Path) -> None:
    listed = run.ok("list")
    assert f"no projects under {root / 'projects'}" in listed.out
    assert "runner new NAME" in listed.out
    assert json.loads(run.ok("list", "--json").out)["projects"] == []


# --- make ------------------------------------------------------------------------------------

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not (REPO / ".venv" / ".installed").is_file():
        if os.environ.get("CI"):
            pytest.fail("CI bootstraps .venv with `make upgrade PROJECT=example` first")
        pytest.skip("no .venv yet: run `make bootstrap`")
    return subprocess.run(["make", "-s", "-C", str(REPO), *args], capture_output=True, text=True,
                          env={**os.environ, "RUNNER_ROOT": str(root)}, check=False)  # fmt: skip


@needs_make
def test_make_json_is_json_for_every_verb_that_has_it(root: Path) -> None:
    load_scenario("two_projects", root)
    for args in (["status", "PROJECT=alpha"], ["upgrade", "PROJECT=alpha"],
                 ["downgrade", "PROJECT=alpha", "REV=-1"], ["stamp", "PROJECT=alpha", "REV=heads"],
                 ["repair", "PROJECT=alpha"], ["history", "PROJECT=alpha"]):  # fmt: skip
        made = _make(root, *args, "JSON=1")
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["projects"][0]["project"] == "alpha", args


@needs_make
def test_make_stamp_hint_names_what_stamp_takes() -> None:
    made = subprocess.run(["make", "-s", "-C", str(REPO), "stamp", "PROJECT=example"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert made.returncode == 2
    assert "REV=heads" in made.stderr
    assert "-1" not in made.stderr


@needs_make
def test_make_clean_keeps_the_local_databases() -> None:
    dry = subprocess.run(["make", "-n", "-C", str(REPO), "clean"], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert "var" not in dry.stdout.split()
    dry = subprocess.run(["make", "-n", "-C", str(REPO), "clean-db"], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert "var" in dry.stdout.split()


def test_nox_sessions_that_call_the_runner_make_no_virtualenv(tmp_path: Path) -> None:
    nox = Path(sys.executable).with_name("nox")
    listed = subprocess.run([str(nox), "-l", "-f", str(REPO / "noxfile.py")], capture_output=True,
                            text=True, check=True, cwd=REPO)  # fmt: skip
    assert "roundtrip" in listed.stdout
    import noxfile  # noqa: F401 - the file itself says how each session runs

    for name in ("migrate", "roundtrip"):
        function = getattr(sys.modules["noxfile"], name)
        assert function.venv_backend == "none", name


def test_verbs_import_only_what_they_use(root: Path) -> None:
    load_scenario("two_projects", root)
    code = (
        "import sys\n"
        "from runner import cli\n"
        f"for args in (['--root', {str(root)!r}, 'status', 'alpha'],"
        f" ['--root', {str(root)!r}, 'list']):\n"
        "    try:\n"
        "        cli.main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "heavy = sorted(loaded & {'sqlglot', 'psycopg', 'pymysql'})\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def _answers(host: str, port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, port)) == 0


def test_the_suite_says_which_servers_it_uses_and_finds_local_ones(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_TEST_")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-n0", "-p", "no:cacheprovider",
         "tests/test_errors.py"],
        capture_output=True, text=True, cwd=REPO, env=env, check=False,
    )  # fmt: skip
    [header] = [line for line in proc.stdout.splitlines() if line.startswith("database servers:")]
    for backend, port, url in (("postgresql", 5432, "postgres@127.0.0.1:5432"),
                               ("mysql", 3306, "root@127.0.0.1:3306")):  # fmt: skip
        part = header.split(f"{backend}: ", 1)[1].split(";")[0]
        if _answers("127.0.0.1", port):
            assert url in part, header
        else:
            assert "no " in part or "testcontainers" in part, header


def test_installing_the_runner_prints_no_packaging_warnings(tmp_path: Path) -> None:
    """The first `make` builds this package: its metadata must not make setuptools
    print deprecation boxes a new user would have to read and ignore."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "runner", source / "runner",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--disable-pip-version-check", "-w", str(tmp_path / "wheels"), str(source)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "deprecat" not in (built.stdout + built.stderr).lower(), built.stderr
    assert list((tmp_path / "wheels").glob("docker_alembic-*.whl"))


def test_make_image_without_a_registry_says_how_to_make_the_base(tmp_path: Path) -> None:
    """No registry is reachable here, so Docker's pull cannot be run for real: a client
    that answers as Docker does when the base image is absent and the pull fails."""
    docker = tmp_path / "docker"
    docker.write_text(
        "#!/bin/sh\n"
        'case "$1 $2" in\n'
        '  "image inspect") echo "Error: No such image: $5" >&2; exit 1;;\n'
        '  "build "*) echo "Get https://registry-1.docker.io/v2/: no such host" >&2; exit 1;;\n'
        "esac\nexit 0\n"
    )
    docker.chmod(0o755)
    (tmp_path / "build" / "wheels").mkdir(parents=True)
    (tmp_path / "build" / "wheels" / "docker_alembic-0-py3-none-any.whl").write_bytes(b"")
    built = subprocess.run(
        [sys.executable, str(REPO / "docker" / "build_image.py"), "--docker", str(docker),
         "--root", str(tmp_path), "--skip-wheels", "--base-image", "python:3.11-slim"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 1
    assert 'BASE_IMAGE="$(bash docker/engine.sh)" make image' in built.stderr


def _on_a_terminal(root: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; what the terminal showed."""
    import pty

    main, secondary = pty.openpty()
    env = {**os.environ, **env, "RUNNER_ROOT": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "runner", *args], stdout=subprocess.DEVNULL,
                            stderr=secondary, env=env)  # fmt: skip
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    return proc.wait(timeout=60), shown.decode()


def test_a_long_step_shows_a_progress_line_on_a_terminal_only(run: Runner, root: Path) -> None:
    load_scenario("slow", root)
    code, shown = _on_a_terminal(root, {"SLOWPOKE_SECONDS": "3.5"}, "upgrade", "slowpoke")
    assert code == 0, shown
    assert "running upgrade s1 -> s2, slow step (" in shown
    # Erased before the step's own line, which then reads cleanly.
    assert "\r\x1b[Kslowpoke: upgrade s1 -> s2, slow step (" in shown
    assert "running upgrade base" not in shown  # a quick step shows no progress line

    run.subprocess("downgrade", "slowpoke", "base")
    run.env["SLOWPOKE_SECONDS"] = "3"  # as long, but piped
    piped = run.subprocess("upgrade", "slowpoke")
    assert piped.code == 0, piped.err
    assert "\r" not in piped.err
    assert "\x1b" not in piped.err
    assert "running " not in piped.err
