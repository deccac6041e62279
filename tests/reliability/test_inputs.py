"""Hostile and broken input: configuration, names, messages, plan files, the Makefile.

Each case ends in one ``error:`` line with the documented exit code and changes
nothing, or (for input that is merely unusual) works and stores what was given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner, load_scenario
from tests.databases import Database
from tests.reliability.catalogue import case
from tests.reliability.checks import PASSWORD, one_line, settle

# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ini", "needle"),
    [
        ("[other]\nx = 1\n", "no [alembic] section"),
        ("[alembic]\nscript_location = %(nowhere)s\n", "not a valid ini file"),
        (b"[alembic]\nscript_location = %(here)s\n# caf\xe9\n", "is not UTF-8"),
    ],
    ids=["no-alembic-section", "bad-interpolation", "not-utf8"],
)
@case("configuration", "alembic.ini without [alembic], with a bad %(interpolation)s, or not"
      " UTF-8", exit_code="2", message="<project>: .../alembic.ini has no [alembic] section"
      " | is not a valid ini file: ... | is not UTF-8 (byte 0xe9 at position 42): save it as"
      " UTF-8", database="untouched (never connected)", log="-")  # fmt: skip
def test_broken_alembic_ini(run: Runner, root: Path, ini: str | bytes, needle: str) -> None:
    load_scenario("two_projects", root)
    path = root / "projects" / "alpha" / "alembic.ini"
    path.write_bytes(ini if isinstance(ini, bytes) else ini.encode())
    for verb in (["status", "alpha"], ["upgrade", "alpha"], ["lint", "alpha"]):
        assert needle in one_line(run(*verb), 2)
    assert not (root / "var" / "alpha.sqlite").exists()


@case("configuration", "a revision file that is not UTF-8", exit_code="2",
      message="<project>: revision file versions/x.py line 2 does not import: SyntaxError:"
      " (unicode error) ...", database="untouched", log="-")  # fmt: skip
def test_a_revision_file_that_is_not_utf8(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    (root / "projects" / "alpha" / "versions" / "a3_latin1.py").write_bytes(
        b'revision = "a3"\n"""caf\xe9"""\ndown_revision = "a2"\n'
    )
    assert "a3_latin1.py" in one_line(run("upgrade", "alpha"), 2)


@case("configuration", "a URL whose port is not a number", exit_code="2",
      message="<project>: the database URL from --url is not a valid SQLAlchemy URL (expected"
      " ...)", database="untouched", log="-")  # fmt: skip
def test_a_port_that_is_not_a_number(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    outcome = run("status", "alpha", "--url", f"postgresql://app:{PASSWORD}@db:five/x")
    assert "not a valid SQLAlchemy URL" in one_line(outcome, 2)
    assert PASSWORD not in outcome.output


@pytest.mark.parametrize("how", ["option", "variable", "file-variable"])
@case("configuration", "an empty URL: --url=, <NAME>_DATABASE_URL= or <NAME>_DATABASE_URL_FILE=",
      exit_code="2", message="<project>: the database URL from ALPHA_DATABASE_URL is empty: ..."
      " | ALPHA_DATABASE_URL_FILE is set but empty: ...",
      database="untouched: no embedded SQLite file is made", log="-")  # fmt: skip
def test_an_empty_url_is_an_error_not_the_embedded_default(
    run: Runner, root: Path, how: str
) -> None:
    load_scenario("two_projects", root)
    args = ["upgrade", "alpha"]
    if how == "option":
        args.append("--url=")
    elif how == "variable":
        run.env["ALPHA_DATABASE_URL"] = ""
    else:
        run.env["ALPHA_DATABASE_URL_FILE"] = ""
    line = one_line(run(*args), 2)
    assert "empty" in line
    assert not (root / "var").exists(), "an unset CI variable must not 'deploy' to a local file"


@case(
    "configuration",
    "an empty sqlalchemy.url in alembic.ini",
    exit_code="0",
    message="-",
    database="the next source of the URL is used, as when it is absent",
    log="-",
)
def test_an_empty_ini_url_counts_as_unset(run: Runner, root: Path) -> None:  # fmt: skip
    load_scenario("two_projects", root)
    ini = root / "projects" / "alpha" / "alembic.ini"
    ini.write_text(ini.read_text() + "\nsqlalchemy.url =\n")
    listed = json.loads(run.ok("list", "--json").out)["projects"]
    assert {p["project"]: p["url_source"] for p in listed}["alpha"] == "embedded default"


@case("configuration", "list and status over all projects when one has a bad URL",
      exit_code="2", message="list: 1 project(s) could not be read",
      database="-", log="-")  # fmt: skip
def test_list_and_status_show_every_readable_project(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = "not a url at all"
    for verb in ("list", "status"):
        outcome = run(verb, "--json")
        assert "could not be read" in one_line(outcome, 2)
        shown = {p["project"]: p for p in json.loads(outcome.out)["projects"]}
        assert set(shown) == {"alpha", "beta"}
        assert "not a valid SQLAlchemy URL" in shown["alpha"]["problem"]
        assert not shown["beta"]["problem"]


@case("configuration", "list when one project's revision file does not import", exit_code="2",
      message="list: 1 project(s) could not be read", database="-", log="-")  # fmt: skip
def test_list_shows_every_project_whose_history_loads(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    (root / "projects" / "beta" / "versions" / "b2_broken.py").write_text("import nowhere\n")
    outcome = run("list")
    one_line(outcome, 2)
    assert "alpha: 2 revision(s)" in outcome.out
    assert "beta: cannot be read" in outcome.out


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon"])
@case("configuration", "--lock-timeout nan, inf, negative or not a number", exit_code="2",
      message="Invalid value for '--lock-timeout' ... (see: runner upgrade --help)",
      database="untouched", log="-")  # fmt: skip
def test_lock_timeouts_that_are_not_a_number_of_seconds(
    run: Runner, root: Path, value: str
) -> None:
    load_scenario("two_projects", root)
    assert "--lock-timeout" in one_line(run("upgrade", "alpha", "--lock-timeout", value), 2)


@case("configuration", "a project whose script_location, version_locations or folder (a"
      " symlink) is outside the repository", exit_code="2",
      message="<project>: script_location is ..., outside the repository ...: ... set"
      " runner_allow_outside_repository = true ...", database="untouched", log="-")  # fmt: skip
def test_code_outside_the_repository_is_refused(run: Runner, root: Path, tmp_path: Path) -> None:
    load_scenario("two_projects", root)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(root / "projects" / "beta", elsewhere)
    (root / "projects" / "gamma").symlink_to(elsewhere)
    assert "the project folder" in one_line(run("upgrade", "gamma"), 2)
    ini = root / "projects" / "alpha" / "alembic.ini"
    text = ini.read_text()
    ini.write_text(text.replace("script_location = %(here)s", f"script_location = {elsewhere}"))
    assert "outside the repository" in one_line(run("upgrade", "alpha"), 2)
    ini.write_text(
        ini.read_text().replace("[alembic]", "[alembic]\nrunner_allow_outside_repository = true")
    )
    allowed = run.ok("status", "alpha")
    assert "outside the repository" in allowed.err  # allowed, and said every time


# --- names ---------------------------------------------------------------------------------------


@case("inputs", "two projects whose names differ only by - and _", exit_code="2",
      message="project 'a_b' would share its tables and A_B_DATABASE_URL with project 'a-b' ...",
      database="-", log="-")  # fmt: skip
def test_names_that_share_tables_and_variables(run: Runner, root: Path) -> None:
    run.ok("new", "a-b")
    assert "would share" in one_line(run("new", "a_b"), 2)
    shutil.copytree(root / "projects" / "a-b", root / "projects" / "a_b")  # made by hand
    assert "would share" in one_line(run("status", "a_b"), 2)
    assert "would share" in one_line(run("upgrade", "--all"), 2)


@case("inputs", "the longest project name allowed (43 characters) deploys; one more is refused",
      exit_code="0; 2", message="invalid project name '...': ... (at most 43, ...)",
      database="head", log="consistent: verify passes")  # fmt: skip
def test_the_longest_name_deploys_on_every_server(run: Runner, root: Path, db: Database) -> None:
    longest = "l" + "-x" * 21
    assert len(longest) == 43
    assert "at most 43" in one_line(run("new", longest + "y"), 2)
    run.ok("new", longest)
    run.ok("revision", longest, "-m", "first")
    run.env[longest.upper().replace("-", "_") + "_DATABASE_URL"] = db.url_string
    run.ok("upgrade", longest)
    settle(run, longest)


@pytest.mark.parametrize("what", ["project", "revision", "root"])
@case("secrets", "a URL with its password typed where a project name, revision or --root"
      " belongs", exit_code="2", message="... 'postgresql://dba:***' ...",
      database="untouched", log="-")  # fmt: skip
def test_a_url_in_the_wrong_place(run: Runner, root: Path, what: str) -> None:
    load_scenario("two_projects", root)
    url = f"postgresql://dba:{PASSWORD}@db.example/prod"
    args = {"project": ["status", url], "revision": ["upgrade", "alpha", url],
            "root": ["--root", url, "list"]}[what]  # fmt: skip
    outcome = run(*args)
    one_line(outcome, 2)
    assert PASSWORD not in outcome.output


# --- messages and the Makefile --------------------------------------------------------------------

HOSTILE = [
    "C:\\new\\tables and \\x41",
    'ends with a quote"',
    '"""\nimport os\nos.system("touch /tmp/pwned-by-message")\n"""',
    "tab\tand a NUL\x00 and a bell\x07",
]


@pytest.mark.parametrize(
    "message", HOSTILE, ids=["backslashes", "quote", "triple-quote", "control"]
)
@case("inputs", "a revision message with backslashes, quotes, triple quotes or control"
      " characters", exit_code="0", message="created revision ...",
      database="-", log="the message, exactly as given, is the revision's description")  # fmt: skip
def test_any_message_makes_a_valid_revision_that_stores_it(
    run: Runner, root: Path, message: str
) -> None:
    load_scenario("two_projects", root)
    created = run.ok("revision", "alpha", "-m", message)
    [path] = [root / f for f in created.out.split() if f.endswith(".py")]
    compile(path.read_text(encoding="utf-8"), str(path), "exec")
    namespace: dict[str, object] = {}
    exec(
        compile(path.read_text(encoding="utf-8").split("from __future__")[0], "doc", "exec"),
        namespace,
    )
    assert str(namespace["__doc__"]).startswith(message)
    assert not Path("/tmp/pwned-by-message").exists()
    run.ok("upgrade", "alpha")  # it imports and runs
    linted = json.loads(run("lint", "alpha", "--json").out)["projects"][0]["findings"]
    assert not [f for f in linted if f["rule"] in {"unreadable-revision", "broken-history"}]


def _make(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", "-C", str(REPO), *args], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False, timeout=120)  # fmt: skip


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@case("inputs", "backticks and $(...) in MSG or PROJECT given to make", exit_code="0; 2",
      message="created revision ... (the message stored as typed) | invalid project name ...",
      database="-", log="-")  # fmt: skip
def test_make_passes_values_without_running_them(root: Path, tmp_path: Path) -> None:
    if not (REPO / ".venv" / ".installed").is_file():
        if os.environ.get("CI"):
            pytest.fail("CI bootstraps .venv with `make upgrade PROJECT=example` first")
        pytest.skip("no .venv yet: run `make bootstrap`")
    marker = tmp_path / "pwned"
    env = {"RUNNER_ROOT": str(root)}
    assert _make("new", "PROJECT=demo", env=env).returncode == 0
    message = f"$(touch {marker}), $(shell touch {marker}) and `touch {marker}`"
    made = _make("revision", "PROJECT=demo", f"MSG={message}", env=env)
    assert made.returncode == 0, made.stderr
    assert not marker.exists()
    [revision] = (root / "projects" / "demo" / "versions").glob("*.py")
    assert message in revision.read_text()
    refused = _make("status", f"PROJECT=$(touch {marker})", env=env)
    assert refused.returncode == 2
    assert not marker.exists()


# --- plan files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("edit", ["targets-not-a-list", "targets-removed", "target-not-an-object",
                                  "not-json"])  # fmt: skip
@case("plans", "a plan file that is malformed or had its targets removed", exit_code="2",
      message="plan file ... was edited after it was made ... | holds no targets | is not JSON",
      database="untouched: nothing applied", log="-")  # fmt: skip
def test_a_malformed_plan_file(run: Runner, root: Path, edit: str) -> None:
    load_scenario("two_projects", root)
    path = root / "plan.json"
    run.ok("plan", "alpha", "--out", str(path))
    document = json.loads(path.read_text())
    if edit == "targets-not-a-list":
        document["targets"] = {"alpha": document["targets"][0]}
    elif edit == "targets-removed":
        document["targets"] = []
    elif edit == "target-not-an-object":
        document["targets"] = [1]
    path.write_text(json.dumps(document) if edit != "not-json" else "{not json")
    one_line(run("apply", str(path)), 2)
    assert not (root / "var" / "alpha.sqlite").exists()


# --- history -------------------------------------------------------------------------------------


@case("history", "a revision that calls sys.exit()", exit_code="1",
      message="<project>: failed in upgrade a2 -> a3 ...: SystemExitCalled: sys.exit(0) was"
      " called ...; database is at a2", database="where the run began (rolled back; MySQL: the"
      " revisions before it)", log="a failure row for the revision")  # fmt: skip
def test_a_revision_that_calls_sys_exit(run: Runner, root: Path, db: Database) -> None:
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = db.url_string
    (root / "projects" / "alpha" / "versions" / "a3_exits.py").write_text('''"""exits"""
import sys

revision = "a3"
down_revision = "a2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sys.exit()


def downgrade() -> None:
    pass
''')
    run.ok("upgrade", "alpha", "a2")
    line = one_line(run("upgrade", "alpha"), 1)
    assert "sys.exit" in line
    assert "a3" in line
    settled = settle(run, "alpha", ["a2"], log_ok=db.backend != "mysql")
    assert settled.problems in ([], ["failed-run"])


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
@case("history", "the database is at a revision the repository does not have", exit_code="4",
      message="<project>: the database is ahead of this branch: ... at revision X, which this"
      " checkout does not have ...: rebase or merge main (... runner stamp <project> REV"
      " --purge); repair: verify failed: X ...",
      database="untouched", log="-", backends="SQLite, PostgreSQL")  # fmt: skip
def test_an_unknown_database_revision(run: Runner, root: Path, db: Database) -> None:
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = db.url_string
    run.ok("upgrade", "alpha")
    (root / "projects" / "alpha" / "versions" / "a2_order_note.py").unlink()
    status = run("status", "alpha")
    assert "not reachable" in one_line(status, 4)
    for verb in (["upgrade", "alpha"], ["repair", "alpha"]):
        line = one_line(run(*verb), 4)
        assert "stamp alpha REV --purge" in line
    run.ok("stamp", "alpha", "a1", "--purge")
    settle(run, "alpha", ["a1"], log_ok=False)
