"""Properties, over many generated inputs (hypothesis): where a URL comes from, that no
password survives scrubbing, and that any revision message is stored as given."""

from __future__ import annotations

import string
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.authoring import docstring_text
from runner.db.target import parse_url
from runner.errors import ConfigError
from runner.output import redact
from runner.project import repository, resolve
from tests.reliability.catalogue import case

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# A source of the URL: absent, set but empty, or set to a URL naming where it came from.
SOURCE = st.sampled_from(["absent", "empty", "set"])


@case("inputs", "URL resolution, for every combination of --url, the variable, the _FILE"
      " variable and alembic.ini being absent, empty or set", exit_code="0 or 2",
      message="the first source that is set wins; a source set but empty is exit 2, naming it",
      database="-", log="-", backends="- (no database)")  # fmt: skip
@SETTINGS
@given(option=SOURCE, variable=SOURCE, file_variable=SOURCE, ini=SOURCE)
def test_the_first_source_that_is_set_wins(
    tmp_path: Path, option: str, variable: str, file_variable: str, ini: str
) -> None:
    root = tmp_path / f"r-{option}-{variable}-{file_variable}-{ini}"
    if not root.exists():
        (root / "projects").mkdir(parents=True)
        repository.create(root, "billing-eu")
    project = repository.Project("billing-eu", root / "projects" / "billing-eu")
    ini_text = (repository.TEMPLATE_DIR / "alembic.ini.tmpl").read_text()
    ini_text = string.Template(ini_text).substitute(
        name="billing-eu", name_upper="BILLING_EU", version_table="alembic_version_billing_eu"
    )
    if ini != "absent":
        value = "" if ini == "empty" else "postgresql://ini/db"
        ini_text = ini_text.replace("[alembic]\n", f"[alembic]\nsqlalchemy.url = {value}\n", 1)
    project.ini_path.write_text(ini_text)
    environ = {}
    if variable != "absent":
        environ["BILLING_EU_DATABASE_URL"] = "" if variable == "empty" else "postgresql://var/db"
    if file_variable != "absent":
        holder = root / "url.txt"
        holder.write_text("postgresql://file/db\n")
        environ["BILLING_EU_DATABASE_URL_FILE"] = "" if file_variable == "empty" else str(holder)
    url = None if option == "absent" else "" if option == "empty" else "postgresql://opt/db"

    # The documented order, as a model: --url, variable, _FILE, ini (empty = unset), embedded.
    expected: str | None = None
    for state, host in ((option, "opt"), (variable, "var"), (file_variable, "file")):
        if state == "empty":
            expected = "error"
            break
        if state == "set":
            expected = host
            break
    if expected is None:
        expected = "ini" if ini == "set" else "embedded"

    if expected == "error":
        with pytest.raises(ConfigError, match="empty"):
            resolve.resolve(project, root, environ, url)
        return
    target = resolve.resolve(project, root, environ, url)
    if expected == "embedded":
        assert target.embedded
    else:
        assert target.url.host == expected


PASSWORDS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1
).filter(lambda p: p.strip() == p and p not in {"***"})


@case("secrets", "a password of any characters, in the userinfo or the query string",
      exit_code="-", message="the URL is shown with *** in its place",
      database="-", log="-", backends="- (no database)")  # fmt: skip
@SETTINGS
@given(password=PASSWORDS, where=st.sampled_from(["userinfo", "query"]))
def test_no_password_survives_display(password: str, where: str) -> None:
    encoded = quote(password, safe="")
    raw = (
        f"postgresql://app:{encoded}@db.example:5432/prod"
        if where == "userinfo"
        else f"postgresql://app@db.example:5432/prod?sslmode=require&password={encoded}"
    )
    url = parse_url(raw, "--url")
    from runner.db.target import Target

    shown = Target(url, "--url").display
    assert "***" in shown
    if redact.distinctive(password):
        assert password not in shown
        assert password not in redact.scrub(f"driver said: {password} was wrong, {raw}")
    # In its place, whatever it is, it is masked.
    assert f":{encoded}@" not in shown
    assert f"password={encoded}" not in shown


@case("secrets", "text with no credential in it", exit_code="-",
      message="left exactly as it was (postgresql+psycopg stays readable)", database="-",
      log="-", backends="- (no database)")  # fmt: skip
@SETTINGS
@given(words=st.lists(st.sampled_from(["postgres", "postgresql+psycopg://app@db/x", "user", "a1b2",
                                        "http://host:8080/path", "error:", "sqlite:////tmp/x.db",
                                        "mysql+pymysql://root@127.0.0.1:3306/mysql"]),
                      max_size=12))  # fmt: skip
def test_scrubbing_leaves_innocent_text_alone(words: list[str]) -> None:
    redact.register("postgres")  # a dictionary word: never masked as a plain substring
    text = " ".join(words)
    assert redact.scrub(text) == text


@case("inputs", "a revision message of any characters", exit_code="0",
      message="-", database="-", log="the revision's docstring starts with the message as given",
      backends="- (no database)")  # fmt: skip
@SETTINGS
@given(message=st.text(min_size=1).filter(lambda m: m.strip() != ""))
def test_any_message_reads_back_from_the_docstring(message: str) -> None:
    # How the template writes it (""" + message + the template's own lines + """).
    source = f'"""{docstring_text(message)}\n\nRevision ID: abc\n"""\nrevision = "abc"\n'
    namespace: dict[str, object] = {}
    exec(compile(source, "revision.py", "exec"), namespace)  # it compiles: no code injected
    assert str(namespace["__doc__"]).startswith(message)
    assert set(namespace) == {"__builtins__", "__doc__", "revision"}
