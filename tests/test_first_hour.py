"""The first hour of a DBA and of an Alembic developer: what the README and `make help`
say works as written, and the output says what happened without surprises."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
