"""Passwords: they must survive Alembic's %-interpolation and never be shown."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.conftest import Runner, load_scenario
from tests.databases import Database, ServerPool
from tests.reliability.catalogue import case

# %, @, : and / all need care in a URL; % also in Alembic's ini interpolation.
PASSWORD = "S3cr%t@pw:/x%%y"


@pytest.fixture
def mysql_user(servers: ServerPool, tmp_path: Path) -> Iterator[tuple[Database, URL]]:
    """A fresh MariaDB database and a user with an awkward password that owns it."""
    with servers.fresh("mysql", tmp_path) as db:
        user = f"dal_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(db.url, poolclass=sa.pool.NullPool)
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
            connection.exec_driver_sql(f"GRANT ALL ON {db.url.database}.* TO '{user}'@'%%'")
        try:
            yield db, db.url.set(username=user, password=PASSWORD)
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f"DROP USER '{user}'@'%%'")
            admin.dispose()


def _assert_no_secret(text: str) -> None:
    assert PASSWORD not in text
    assert "S3cr" not in text  # no fragment either, whatever the encoding


@pytest.mark.mysql
def test_password_with_percent_signs_survives_and_is_never_shown(
    run: Runner, root: Path, mysql_user: tuple[Database, URL]
) -> None:
    db, url = mysql_user
    load_scenario("two_projects", root)
    run.env["ALPHA_DATABASE_URL"] = url.render_as_string(hide_password=False)

    outputs = [
        run.ok("upgrade", "alpha"),
        run.ok("status", "alpha"),
        run.ok("status", "alpha", "--json"),
        run.ok("list", "--json"),
        run.ok("history", "alpha", "--json"),
        run.ok("downgrade", "alpha", "-1", "--json"),
        run.ok("plan", "alpha"),
        run.ok("plan", "alpha", "--json"),
    ]
    assert "orders" in db.tables()  # the password really reached the server
    with db.connect() as connection:  # nor is it in the change log
        rows = connection.exec_driver_sql("SELECT * FROM alembic_changelog_alpha").all()
    assert rows
    _assert_no_secret(repr(rows))
    status = json.loads(outputs[2].out)["projects"][0]
    assert "***" in status["url"]
    for outcome in outputs:
        _assert_no_secret(outcome.output)


@pytest.mark.mysql
def test_wrong_password_is_exit_3_without_the_password(
    run: Runner, root: Path, mysql_user: tuple[Database, URL]
) -> None:
    _, url = mysql_user
    load_scenario("two_projects", root)
    wrong = url.set(password=PASSWORD + "-wrong")
    run.env["ALPHA_DATABASE_URL"] = wrong.render_as_string(hide_password=False)
    for args in (("upgrade", "alpha"), ("status", "alpha", "--json"), ("--debug", "plan", "alpha")):
        outcome = run(*args)
        assert outcome.code == 3, outcome.output
        assert "Access denied" in outcome.err
        _assert_no_secret(outcome.output)


@case(
    "secrets",
    "a password given through <NAME>_DATABASE_URL_FILE (a Docker or Kubernetes secret)",
    exit_code="0",
    message="-",
    database="head",
    log="no password in any output",
)
def test_password_from_url_file_secret(run: Runner, root: Path, tmp_path: Path) -> None:
    load_scenario("two_projects", root)
    secret = tmp_path / "alpha_url"
    secret.write_text(f"postgresql://app:{quote(PASSWORD, safe='')}@127.0.0.1:1/app\n")
    run.env["ALPHA_DATABASE_URL_FILE"] = str(secret)
    outcome = run("--debug", "upgrade", "alpha")
    assert outcome.code == 3
    assert "ALPHA_DATABASE_URL_FILE" in outcome.err
    _assert_no_secret(outcome.output)
