"""URL resolution order and normalisation (runner.project.resolve), on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.project import repository as projects
from runner.project import resolve as targets


@pytest.fixture
def project(tmp_path: Path) -> projects.Project:
    (tmp_path / "projects").mkdir()
    return projects.create(tmp_path, "billing-eu")


def set_ini_url(project: projects.Project, url: str) -> None:
    text = project.ini_path.read_text().replace("# sqlalchemy.url =", f"sqlalchemy.url = {url}")
    project.ini_path.write_text(text)


def test_resolution_order(project: projects.Project, tmp_path: Path) -> None:
    root = tmp_path
    secret = tmp_path / "secret"
    secret.write_text("postgresql://from-file/db\n")
    set_ini_url(project, "mysql://from-ini/db")
    env = {
        "BILLING_EU_DATABASE_URL": "postgresql://from-env/db",
        "BILLING_EU_DATABASE_URL_FILE": str(secret),
    }

    def host(url_option: str | None, environ: dict[str, str]) -> str | None:
        return targets.resolve(project, root, environ, url_option).url.host

    assert host("sqlite:///x.db", env) is None  # --url wins (sqlite has no host)
    assert host(None, env) == "from-env"
    del env["BILLING_EU_DATABASE_URL"]
    assert host(None, env) == "from-file"
    assert host(None, {}) == "from-ini"


def test_embedded_default(project: projects.Project, tmp_path: Path) -> None:
    target = targets.resolve(project, tmp_path, {})
    assert target.embedded
    assert target.file_path == (tmp_path / "var" / "billing-eu.sqlite").resolve()
    assert target.source == "embedded default"


def test_stock_placeholder_url_counts_as_unset(project: projects.Project, tmp_path: Path) -> None:
    set_ini_url(project, "driver://user:pass@localhost/dbname")
    assert targets.resolve(project, tmp_path, {}).embedded


def test_ini_url_percent_is_unescaped(project: projects.Project, tmp_path: Path) -> None:
    set_ini_url(project, "postgresql://u:p%%25w@h/db")
    assert targets.resolve(project, tmp_path, {}).url.password == "p%w"


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://h/db", "postgresql+psycopg"),
        ("postgres://h/db", "postgresql+psycopg"),
        ("mysql://h/db", "mysql+pymysql"),
        ("mariadb://h/db", "mariadb+pymysql"),
        ("postgresql+psycopg2://h/db", "postgresql+psycopg2"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_bare_dialects_use_the_shipped_drivers(
    project: projects.Project, tmp_path: Path, given: str, driver: str
) -> None:
    assert targets.resolve(project, tmp_path, {}, given).url.drivername == driver


def test_display_hides_the_password(project: projects.Project, tmp_path: Path) -> None:
    target = targets.resolve(project, tmp_path, {}, "postgresql://u:hunter22@h/db")
    assert "hunter22" not in target.display
    assert "hunter22" in target.secret_url


@pytest.mark.parametrize("content", ["", "   \n"])
def test_empty_url_file_is_an_error(
    project: projects.Project, tmp_path: Path, content: str
) -> None:
    secret = tmp_path / "empty"
    secret.write_text(content)
    with pytest.raises(ConfigError, match=r"BILLING_EU_DATABASE_URL_FILE.*empty"):
        targets.resolve(project, tmp_path, {"BILLING_EU_DATABASE_URL_FILE": str(secret)})


def test_missing_url_file_is_an_error(project: projects.Project, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read BILLING_EU_DATABASE_URL_FILE"):
        targets.resolve(project, tmp_path, {"BILLING_EU_DATABASE_URL_FILE": "/no/such/file"})


def test_new_project_gets_its_own_version_table(project: projects.Project) -> None:
    assert "version_table = alembic_version_billing_eu" in project.ini_path.read_text()
