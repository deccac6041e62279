"""Bad input: one clear line, a documented exit code, and the database untouched."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from runner.run import changelog
from tests.conftest import Runner, failing_revision, load_scenario
from tests.databases import Database, ServerPool
from tests.reliability.catalogue import case


def assert_one_line_error(err: str, *needles: str) -> None:
    """Exactly one ``error:`` line, the last one (progress lines may precede it)."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert lines[-1] == errors[0], err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in errors[0], errors[0]


def current(run: Runner, project: str) -> list[str]:
    """Where status says the database is (status exits 4 when a write would be refused)."""
    outcome = run("status", project, "--json")
    assert outcome.code in (0, 4), outcome.output
    result: list[str] = json.loads(outcome.out)["projects"][0]["current"]
    return result


def test_unknown_project_suggests_a_close_match(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    outcome = run("upgrade", "alpah")
    assert outcome.code == 2
    assert_one_line_error(outcome.err, "'alpah'", "did you mean 'alpha'")


@pytest.mark.parametrize("name", ["../etc", "Billing", "a b", "x;rm", ""])
def test_bad_project_names_are_refused(run: Runner, name: str) -> None:
    outcome = run("upgrade", name)
    assert outcome.code == 2
    assert "invalid project name" in outcome.err or "missing project name" in outcome.err


def test_folder_without_alembic_ini(run: Runner, root: Path) -> None:
    (root / "projects" / "orphan" / "versions").mkdir(parents=True)
    outcome = run("status", "orphan")
    assert outcome.code == 2
    assert_one_line_error(outcome.err, "orphan", "alembic.ini")


@pytest.mark.parametrize(
    ("ini_text", "needle"),
    [
        ("this is not [ an ini file", "not a valid ini file"),
        ("[alembic]\nversion_table = x\n", "script_location"),
        ("[alembic]\nscript_location = %(here)s/nowhere\n", "nowhere"),
    ],
)
def test_broken_alembic_ini(run: Runner, root: Path, ini_text: str, needle: str) -> None:
    load_scenario("two_projects", root)
    (root / "projects" / "alpha" / "alembic.ini").write_text(ini_text)
    outcome = run("upgrade", "alpha")
    assert outcome.code == 2
    assert_one_line_error(outcome.err, "alpha", needle)
    assert not (root / "var" / "alpha.sqlite").exists()


@pytest.mark.parametrize(
    ("bad_line", "needle"),
    [
        ("def upgrade(:\n", "SyntaxError"),
        ("undefined_name + 1\n", "NameError"),
        ("import no_such_module_here\n", "no_such_module_here"),
    ],
)
def test_revision_file_that_does_not_import(
    run: Runner, root: Path, bad_line: str, needle: str
) -> None:
    load_scenario("two_projects", root)
    path = root / "projects" / "alpha" / "versions" / "a2_order_note.py"
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(3, bad_line)  # line 4
    path.write_text("".join(lines))
    outcome = run("upgrade", "alpha")
    assert outcome.code == 2
    assert_one_line_error(outcome.err, "versions/a2_order_note.py", "line 4", needle)
    assert not (root / "var" / "alpha.sqlite").exists()


@case(
    "inputs",
    "an unknown revision given to upgrade, downgrade or stamp",
    exit_code="2",
    message="<project>: ... 'nosuchrev' ...",
    database="unchanged",
    log="unchanged",
)
def test_unknown_revision_changes_nothing(run: Runner, root: Path, db: Database) -> None:
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = db.url_string
    run.ok("upgrade", "alpha", "a1")
    for verb in ("upgrade", "downgrade", "stamp"):
        outcome = run(verb, "alpha", "nosuchrev")
        assert outcome.code == 2, verb
        assert_one_line_error(outcome.err, "alpha", "nosuchrev")
    assert current(run, "alpha") == ["a1"]


def test_downgrade_needs_a_revision(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    outcome = run("downgrade", "alpha")
    assert outcome.code == 2
    assert "REV" in outcome.err


def test_unreachable_host(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    outcome = run("upgrade", "alpha", "--url", "postgresql://someone:pw-secret@127.0.0.1:1/db")
    assert outcome.code == 3
    assert_one_line_error(outcome.err, "alpha", "cannot connect", "127.0.0.1:1")
    assert "pw-secret" not in outcome.output


@pytest.mark.parametrize(
    ("url", "package"),
    [
        ("postgresql+psycopg2://u:pw-secret@127.0.0.1/db", "psycopg2-binary"),
        ("mysql+mysqldb://u:pw-secret@127.0.0.1/db", "mysqlclient"),
        ("nosuchdialect://u:pw-secret@127.0.0.1/db", "no SQLAlchemy dialect"),
    ],
)
@case(
    "configuration",
    "a URL naming a driver that is not installed",
    exit_code="2",
    message=(
        "<project>: database driver 'psycopg2' is not installed ...; install it with: pip install "
        "'psycopg2-binary'"
    ),
    database="untouched",
    log="-",
)
def test_driver_not_installed(run: Runner, root: Path, url: str, package: str) -> None:
    load_scenario("two_projects", root)
    outcome = run("status", "alpha", "--url", url)
    assert outcome.code == 2
    assert_one_line_error(outcome.err, "alpha", package)
    assert "pw-secret" not in outcome.output


def test_invalid_url(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = "not a url at all pw-secret"
    outcome = run("status", "alpha")
    assert outcome.code == 2
    assert_one_line_error(outcome.err, "alpha", "ALPHA_DATABASE_URL", "not a valid")
    assert "pw-secret" not in outcome.output


FAILING_REVISION = failing_revision("a3", "a2")


def test_failed_migration_reports_where_the_database_is(
    run: Runner, root: Path, db: Database
) -> None:
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = db.url_string
    run.ok("upgrade", "alpha", "a1")
    (root / "projects" / "alpha" / "versions" / "a3_breaks.py").write_text(FAILING_REVISION)

    outcome = run("upgrade", "alpha")
    assert outcome.code == 1
    assert_one_line_error(outcome.err, "alpha", "a2 -> a3", "no_such_table", "database is at")
    left_at = current(run, "alpha")
    if db.backend == "mysql":
        # MySQL commits each DDL statement: a2 stays applied, a3's table stays behind.
        assert left_at == ["a2"]
        assert "database is at a2" in outcome.err
    else:
        # One transaction for the whole upgrade: back where it started, nothing left over.
        assert left_at == ["a1"]
        assert "database is at a1" in outcome.err
        assert "half_done" not in db.tables()
        assert "note" not in _columns(db, "orders")


def _columns(db: Database, table: str) -> set[str]:
    import sqlalchemy as sa

    with db.connect() as connection:
        return {c["name"] for c in sa.inspect(connection).get_columns(table)}


def test_debug_shows_a_traceback(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    outcome = run("--debug", "upgrade", "alpha", "nosuchrev")
    assert outcome.code == 2
    assert "Traceback" in outcome.err
    assert outcome.err.rstrip().splitlines()[-1].startswith("error: ")


def test_exit_codes_through_python_dash_m(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    assert run.subprocess("upgrade", "alpha").code == 0
    assert run.subprocess("upgrade", "nope").code == 2
    assert run.subprocess("status", "alpha", "--url", "mysql://u:p@127.0.0.1:1/x").code == 3


@case(
    "history",
    "a down_revision that points nowhere",
    exit_code="2",
    message="<project>: broken history: ... is not present ... (see: runner lint)",
    database="untouched",
    log="-",
)
def test_dangling_down_revision_is_a_clear_error(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    path = root / "projects" / "alpha" / "versions" / "a2_order_note.py"
    path.write_text(path.read_text().replace('down_revision = "a1"', 'down_revision = "gone"'))
    for verb in ("upgrade", "history", "status"):
        outcome = run(verb, "alpha")
        assert outcome.code == 2, verb
        assert_one_line_error(outcome.err, "alpha", "broken history", "gone")


@case(
    "history",
    "two revision files with one revision id",
    exit_code="2",
    message="<project>: broken history: ... is present more than once ...",
    database="untouched",
    log="-",
)
def test_two_files_with_one_revision_id_are_refused(run: Runner, root: Path) -> None:
    load_scenario("two_projects", root)
    versions = root / "projects" / "alpha" / "versions"
    (versions / "a2_again.py").write_text((versions / "a2_order_note.py").read_text())
    outcome = run("upgrade", "alpha")
    assert outcome.code == 2
    assert_one_line_error(outcome.err, "alpha", "a2 is present more than once")
    assert not (root / "var" / "alpha.sqlite").exists()


@pytest.mark.parametrize("verb", ["lint", "test"])
def test_unwritable_junit_report_is_a_usage_error(
    run: Runner, root: Path, tmp_path: Path, verb: str
) -> None:
    """``--junit`` into a path that cannot be written: exit 2 naming the file, no traceback."""
    load_scenario("roundtrip_clean", root)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report's folder should be\n")
    outcome = run(verb, "shop", "--junit", str(blocker / "report.xml"))
    assert outcome.code == 2, outcome.output
    assert outcome.err.startswith("error: cannot write JUnit report")
    assert str(blocker / "report.xml") in outcome.err
    assert "Traceback" not in outcome.output


# How to make (and remove) a login that may read and write rows but create nothing.
_NO_CREATE_RIGHTS = {
    # PostgreSQL 15 and later give a new role no CREATE on schema public.
    # With a password: a container's server (or any but a trusting local one) asks for it.
    "postgresql": (
        ["CREATE ROLE {user} LOGIN PASSWORD '{password}'"],
        ["DROP OWNED BY {user}", "DROP ROLE {user}"],
    ),
    "mysql": (
        [
            "CREATE USER '{user}'@'%%' IDENTIFIED BY '{password}'",
            "CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {database}.* TO '{user}'@'%%'",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {database}.* TO '{user}'@'localhost'",
        ],
        ["DROP USER '{user}'@'%%'", "DROP USER '{user}'@'localhost'"],
    ),
}


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
@case(
    "configuration",
    "a database user without the right to create the version or change-log table",
    exit_code="2",
    message=(
        "<project>: the database refused CREATE TABLE ... before any revision ran: ... denied ... "
        "(check the database user's rights)"
    ),
    database="unchanged",
    log="-",
)
def test_database_user_without_create_rights_gets_one_line(
    run: Runner, root: Path, servers: ServerPool, tmp_path: Path, backend: str
) -> None:
    """A migration user that may not create tables: exit 2 naming the table, nothing applied.

    Each table the runner needs is refused in turn (PostgreSQL asks for
    Alembic's version table first, MySQL for the change log, whose checks come
    first there); once a DBA has created it, the other one is. PyMySQL reports
    the refusal as an OperationalError, like a lost connection: it must still
    read as a rights problem (exit 2), not as an unreachable server (exit 3).
    """
    load_scenario("slow", root)
    user = f"dalembic_norights_{uuid.uuid4().hex[:8]}"
    create, drop = _NO_CREATE_RIGHTS[backend]
    log_table = changelog.table_name("slowpoke")
    tables = {  # which table: (what the error says, the table)
        "version": ("the database refused CREATE TABLE alembic_version_slowpoke",
                    "alembic_version_slowpoke"),
        "log": (f"cannot create the change-log table {log_table}:", log_table),
    }  # fmt: skip
    order = ["version", "log"] if backend == "postgresql" else ["log", "version"]
    with servers.fresh(backend, tmp_path) as database:
        password = secrets.token_hex(12)
        names = {"user": user, "database": database.url.database, "password": password}

        def as_admin(*statements: str) -> None:
            with database.connect() as connection:
                for statement in statements:
                    connection.exec_driver_sql(statement.format(**names))
                connection.commit()

        as_admin(*create)
        try:
            url = make_url(database.url_string).set(username=user, password=password)
            run.env["SLOWPOKE_DATABASE_URL"] = url.render_as_string(hide_password=False)
            for which in order:
                message, table = tables[which]
                refused = run("upgrade", "slowpoke")
                assert refused.code == 2, refused.output
                assert refused.err.startswith(f"error: slowpoke: {message}"), refused.err
                assert "denied" in refused.err
                assert len(refused.err.strip().splitlines()) == 1
                # A DBA creates that table once for the migration user.
                with database.connect() as connection:
                    if which == "log":
                        changelog.make_table("slowpoke", None).create(connection)
                    else:
                        connection.exec_driver_sql(
                            f"CREATE TABLE {table} (version_num VARCHAR(32) PRIMARY KEY)"
                        )
                    if backend == "postgresql":
                        connection.exec_driver_sql(f"GRANT ALL ON {table} TO {user}")
                        if which == "log":
                            connection.exec_driver_sql(
                                f"GRANT USAGE ON SEQUENCE {table}_id_seq TO {user}"
                            )
                    connection.commit()
            # Both tables there: the migration user can now migrate (DDL aside).
            assert database.tables() == {t for _, t in tables.values()}
        finally:
            as_admin(*drop)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["status", "alpha", "--jsn"], ["--jsn", "runner status --help"]),
        (["nosuchverb"], ["nosuchverb", "runner --help"]),
        (["downgrade", "alpha"], ["REV", "runner downgrade --help"]),
        (["upgrade", "alpha", "--lock-timeout", "soon"], ["soon", "runner upgrade --help"]),
        (["plan", "alpha", "--json", "--format", "markdown"], ["--json", "markdown"]),
    ],
)
@case(
    "inputs",
    "a mistyped command line",
    exit_code="2",
    message="No such option: --jsn (see: runner status --help)",
    database="untouched",
    log="-",
)
def test_usage_errors_are_one_line_exit_2(run: Runner, root: Path, args: list[str],
                                          needles: list[str]) -> None:  # fmt: skip
    load_scenario("two_projects", root)
    outcome = run(*args)
    assert outcome.code == 2, outcome.output
    assert_one_line_error(outcome.err, *needles)
    assert "Usage:" not in outcome.err
    assert len(outcome.err.strip().splitlines()) == 1


@pytest.mark.parametrize("verb", ["status", "history", "heads", "list", "log", "verify"])
def test_json_is_format_json(run: Runner, root: Path, verb: str) -> None:
    load_scenario("two_projects", root)
    args = [verb] if verb == "list" else [verb, "alpha"]
    assert run.ok(*args, "--json").out == run.ok(*args, "--format", "json").out
    assert not run.ok(*args, "--format", "text").out.lstrip().startswith("{")


@case(
    "inputs",
    "a bug in the runner (an unexpected exception)",
    exit_code="70",
    message="internal error: ZeroDivisionError: ... (rerun with --debug for a traceback)",
    database="-",
    log="-",
)
def test_a_bug_is_exit_70_with_one_line(
    run: Runner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything that is not a RunnerError is the runner's fault: exit 70, not 1 (which
    says a migration failed), so CI can tell a bug from a failed deploy."""
    from runner import commands

    def broken(*_args: object) -> None:
        raise ZeroDivisionError("a bug")

    load_scenario("two_projects", root)
    monkeypatch.setattr(commands, "status", broken)
    outcome = run("status", "alpha")
    assert outcome.code == 70
    lines = outcome.err.strip().splitlines()
    assert lines == [
        "internal error: ZeroDivisionError: a bug (rerun with --debug for a traceback)"
    ]
