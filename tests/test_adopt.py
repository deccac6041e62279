"""adopt, drift, drift --quick and diff (issue 16), through the real CLI on real databases.

A hand-made schema on each dialect (composite keys, a self-referencing foreign key
with ON DELETE, partial and expression indexes where the dialect has them, enums,
defaults, a view, a sequence, CHECKs, a trigger) is adopted; the database is
unchanged but for the runner's tables; the baseline applied to an empty database
gives the same schema; a later revision applies on top; then a column, an index and
a table added by hand are each reported by ``drift`` and ``drift --quick``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa

from runner.adopt.catalog import reflect
from runner.errors import EXIT_DRIFT, EXIT_REFUSED
from runner.project.objects import Scope
from runner.roundtrip import schema as roundtrip_schema
from runner.run.fingerprint import fingerprint
from tests.conftest import BACKENDS, Runner
from tests.databases import Database, ServerPool

SCHEMAS = {
    "sqlite": [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL"
        " UNIQUE, name TEXT NOT NULL DEFAULT '', referred_by INTEGER REFERENCES customers(id)"
        " ON DELETE SET NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " CONSTRAINT email_has_at CHECK (instr(email, '@') > 1))",
        "CREATE TABLE products (sku TEXT PRIMARY KEY, price NUMERIC NOT NULL CHECK (price >= 0))",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES"
        " customers(id) ON DELETE CASCADE ON UPDATE CASCADE, state TEXT NOT NULL DEFAULT 'new'"
        " CHECK (state IN ('new', 'paid', 'shipped')), note TEXT)",
        "CREATE TABLE order_lines (order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE"
        " CASCADE, line_no INTEGER NOT NULL, sku TEXT NOT NULL REFERENCES products(sku),"
        " qty INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (order_id, line_no))",
        "CREATE INDEX ix_customers_lower_email ON customers (lower(email))",
        "CREATE INDEX ix_orders_open ON orders (customer_id) WHERE state <> 'shipped'",
        "CREATE VIEW open_orders AS SELECT o.id, c.email FROM orders o JOIN customers c"
        " ON c.id = o.customer_id WHERE o.state <> 'shipped'",
        "CREATE TRIGGER orders_note AFTER INSERT ON orders BEGIN UPDATE orders SET note = ''"
        " WHERE id = NEW.id AND note IS NULL; END",
    ],
    "postgresql": [
        "CREATE EXTENSION IF NOT EXISTS citext",
        "CREATE DOMAIN positive_qty AS int NOT NULL DEFAULT 1 CONSTRAINT qty_positive"
        " CHECK (VALUE > 0)",
        "CREATE TYPE order_state AS ENUM ('new', 'paid', 'shipped')",
        "CREATE SEQUENCE invoice_no START 1000 INCREMENT 10",
        "CREATE TABLE customers (id serial PRIMARY KEY, email citext NOT NULL UNIQUE,"
        " name text NOT NULL DEFAULT '', referred_by int REFERENCES customers(id) ON DELETE"
        " SET NULL, created_at timestamptz NOT NULL DEFAULT now(),"
        " CONSTRAINT email_has_at CHECK (position('@' in email) > 1))",
        "CREATE TABLE products (sku varchar(20) PRIMARY KEY, price numeric(10, 2) NOT NULL"
        " CHECK (price >= 0), serial_no int GENERATED ALWAYS AS IDENTITY)",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES"
        " customers(id) ON DELETE CASCADE ON UPDATE CASCADE, state order_state NOT NULL"
        " DEFAULT 'new', invoice bigint DEFAULT nextval('invoice_no'), note text)",
        "CREATE TABLE order_lines (order_id bigint NOT NULL REFERENCES orders(id) ON DELETE"
        " CASCADE, line_no int NOT NULL, sku varchar(20) NOT NULL REFERENCES products(sku),"
        " qty positive_qty, PRIMARY KEY (order_id, line_no))",
        "CREATE INDEX ix_customers_lower_email ON customers (lower(email))",
        "CREATE INDEX ix_orders_open ON orders (customer_id) WHERE state <> 'shipped'",
        "CREATE VIEW open_orders AS SELECT o.id, c.email FROM orders o JOIN customers c"
        " ON c.id = o.customer_id WHERE o.state <> 'shipped'",
        "CREATE MATERIALIZED VIEW sales_by_sku AS SELECT sku, sum(qty) AS qty FROM order_lines"
        " GROUP BY sku",
        "CREATE FUNCTION touch_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " NEW.note := coalesce(NEW.note, ''); RETURN NEW; END $$",
        "CREATE TRIGGER orders_touch BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION"
        " touch_note()",
    ],
    "mysql": [
        "CREATE SEQUENCE invoice_no START WITH 1000 INCREMENT BY 10",
        "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(200) NOT NULL,"
        " name VARCHAR(100) NOT NULL DEFAULT '', referred_by INT NULL, created_at DATETIME NOT"
        " NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE KEY uq_email (email), CONSTRAINT email_has_at"
        " CHECK (LOCATE('@', email) > 1), CONSTRAINT fk_referrer FOREIGN KEY (referred_by)"
        " REFERENCES customers(id) ON DELETE SET NULL) ENGINE=InnoDB",
        "CREATE TABLE products (sku VARCHAR(20) PRIMARY KEY, price DECIMAL(10, 2) NOT NULL,"
        " CONSTRAINT price_positive CHECK (price >= 0))",
        "CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL,"
        " state ENUM('new', 'paid', 'shipped') NOT NULL DEFAULT 'new', note TEXT,"
        " KEY ix_orders_customer_state (customer_id, state), CONSTRAINT fk_orders_customer"
        " FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE ON UPDATE"
        " CASCADE)",
        "CREATE TABLE order_lines (order_id BIGINT NOT NULL, line_no INT NOT NULL, sku"
        " VARCHAR(20) NOT NULL, qty INT NOT NULL DEFAULT 1, PRIMARY KEY (order_id, line_no),"
        " KEY ix_lines_sku (sku(8)), CONSTRAINT fk_lines_order FOREIGN KEY (order_id)"
        " REFERENCES orders(id) ON DELETE CASCADE, CONSTRAINT fk_lines_product FOREIGN KEY"
        " (sku) REFERENCES products(sku))",
        "CREATE VIEW open_orders AS SELECT o.id, c.email FROM orders o JOIN customers c"
        " ON c.id = o.customer_id WHERE o.state <> 'shipped'",
        "CREATE TRIGGER orders_note BEFORE INSERT ON orders FOR EACH ROW"
        " SET NEW.note = COALESCE(NEW.note, '')",
    ],
}
# Three changes made by hand after the baseline: each must be reported by name.
BY_HAND = {
    "sqlite": ["ALTER TABLE customers ADD COLUMN phone TEXT"],
    "postgresql": ["ALTER TABLE customers ADD COLUMN phone varchar(30)"],
    "mysql": ["ALTER TABLE customers ADD COLUMN phone VARCHAR(30)"],
}
INDEX_BY_HAND = "CREATE INDEX ix_customers_name ON customers (name)"
TABLE_BY_HAND = "CREATE TABLE audit_by_hand (id INT PRIMARY KEY, what VARCHAR(80))"

# What each dialect's own catalog holds, counted without the runner's code: nothing
# but the runner's tables (and their parts) may appear after adopt.
COUNTS = {
    "sqlite": "SELECT type, count(*) FROM sqlite_master WHERE tbl_name NOT LIKE 'alembic%'"
    " GROUP BY type ORDER BY type",
    "postgresql": "SELECT 'class ' || relkind::text, count(*) FROM pg_class c JOIN"
    " pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public' AND relname NOT LIKE"
    " 'alembic%' GROUP BY relkind UNION ALL SELECT 'constraint', count(*) FROM pg_constraint k JOIN"
    " pg_class c ON c.oid = k.conrelid WHERE c.relname NOT LIKE 'alembic%' AND"
    " k.connamespace = 'public'::regnamespace UNION ALL SELECT 'trigger', count(*) FROM"
    " pg_trigger UNION ALL SELECT 'proc', count(*) FROM pg_proc WHERE pronamespace ="
    " 'public'::regnamespace UNION ALL SELECT 'type', count(*) FROM pg_type WHERE"
    " typnamespace = 'public'::regnamespace AND typname NOT LIKE '%alembic%' ORDER BY 1",
    "mysql": "SELECT 'table', count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA ="
    " DATABASE() AND TABLE_NAME NOT LIKE 'alembic%' UNION ALL SELECT 'column', count(*) FROM"
    " information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE"
    " 'alembic%' UNION ALL SELECT 'index', count(*) FROM information_schema.STATISTICS WHERE"
    " TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'alembic%' UNION ALL SELECT"
    " 'constraint', count(*) FROM information_schema.TABLE_CONSTRAINTS WHERE"
    " CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'alembic%' UNION ALL SELECT"
    " 'trigger', count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
}


def build(database: Database, statements: list[str]) -> None:
    engine = sa.create_engine(database.url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def snapshot(database: Database) -> tuple[object, ...]:
    """The schema three ways: the adopt catalog, the round trip's reflection (other code)
    and the dialect's own catalog counts."""
    with database.connect() as connection:
        ours = reflect(connection).schema
        with warnings.catch_warnings():  # SQLite's expression index: not reflected there
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            reflected = roundtrip_schema.reflect(connection)
        # The runner's tables, and on PostgreSQL the change log's id sequence, are new.
        theirs = {k: v for k, v in reflected.items() if "alembic" not in k}
        counts = [tuple(r) for r in connection.execute(sa.text(COUNTS[database.backend]))]
        digest = fingerprint(connection, Scope())
    return ours, theirs, counts, digest


def project(run: Runner, root: Path, database: Database, name: str = "shop") -> None:
    run.ok("new", name)
    run.env[f"{name.upper()}_DATABASE_URL"] = database.url_string


def later_revision(run: Runner, root: Path) -> None:
    """A revision on top of the baseline, as a developer writes it."""
    run.ok("revision", "shop", "-m", "loyalty points")
    newest = max((root / "projects/shop/versions").glob("*loyalty*.py"))
    text = newest.read_text()
    text = text.replace(
        "def upgrade() -> None:\n    pass",
        "def upgrade() -> None:\n    op.add_column('customers', sa.Column('loyalty', sa.Integer))",
    )
    newest.write_text(text)


@pytest.mark.parametrize("backend", BACKENDS)
def test_adopt_reproduce_then_drift(
    backend: str, servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    with (
        servers.fresh(backend, tmp_path, "live") as live,
        servers.fresh(backend, tmp_path, "empty") as empty,
    ):
        build(live, SCHEMAS[backend])
        before = snapshot(live)
        project(run, root, live)

        adopted = run.ok("adopt", "shop", "--json")
        document = json.loads(adopted.out)["projects"][0]
        assert document["objects"]["table"] == 4
        assert document["objects"]["view"] == 1
        assert snapshot(live)[:3] == before[:3]  # nothing but the runner's tables changed
        baseline = (root / document["files"][0]).read_text()
        assert "op.create_table" in baseline or backend == "sqlite"
        log = run.ok("log", "shop", "--json").out
        assert '"direction": "baseline"' in log
        assert '"direction": "fingerprint"' in log
        assert run.ok("verify", "shop").code == 0

        # The baseline on an empty database of the same dialect: the same schema.
        run.ok("upgrade", "shop", "--url", empty.url_string)
        assert snapshot(empty) == before

        # A revision on top applies to the live database; no drift after it.
        later_revision(run, root)
        run.ok("upgrade", "shop")
        assert "no drift" in run.ok("drift", "shop").out
        quick = run.ok("drift", "shop", "--quick", "--json")
        assert json.loads(quick.out)["projects"][0]["method"] == "fingerprint"

        # By hand: a column, an index, a whole table; each named by both kinds of drift.
        build(live, [*BY_HAND[backend], INDEX_BY_HAND, TABLE_BY_HAND])
        for args in (("drift", "shop"), ("drift", "shop", "--quick")):
            found = run(*args)
            assert found.code == EXIT_DRIFT, found.output
            for name in ("column phone added", "index ix_customers_name added",
                         "table audit_by_hand added"):  # fmt: skip
                assert name in found.out, found.out
            assert "loyalty" not in found.out  # applied by a migration: no drift
        report = json.loads(run("drift", "shop", "--json").out)["projects"][0]
        changed = {(c["object"], c["change"]) for c in report["changes"]}
        assert changed == {("table audit_by_hand", "added"), ("table customers", "altered")}


def test_adopt_refuses_a_project_with_revisions(
    servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    with servers.fresh("sqlite", tmp_path) as live:
        build(live, SCHEMAS["sqlite"])
        project(run, root, live)
        run.ok("revision", "shop", "-m", "first")
        refused = run("adopt", "shop")
        assert refused.code == EXIT_REFUSED
        assert "already has revisions" in refused.err
        assert not any("alembic" in t for t in live.tables())  # nothing written


def test_adopt_include_exclude_and_sql(
    servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    """Excluded objects are neither adopted nor drift; --sql writes paired files that
    reproduce the schema too."""
    with (
        servers.fresh("sqlite", tmp_path, "live") as live,
        servers.fresh("sqlite", tmp_path, "empty") as empty,
    ):
        build(live, [*SCHEMAS["sqlite"], "CREATE TABLE legacy_import (x TEXT)"])
        project(run, root, live)
        (root / "projects/shop/targets.toml").write_text(
            'dialect = "sqlite"\n[objects]\nexclude = ["legacy_*"]\n'
        )
        document = json.loads(run.ok("adopt", "shop", "--sql", "--json").out)["projects"][0]
        assert [Path(f).suffix for f in document["files"]] == [".py", ".sql", ".sql"]
        upgrade_sql = (root / document["files"][1]).read_text()
        assert "legacy_import" not in upgrade_sql
        assert "CREATE TABLE orders" in upgrade_sql
        run.ok("upgrade", "shop", "--url", empty.url_string)
        assert "legacy_import" not in empty.tables()
        build(live, ["INSERT INTO legacy_import VALUES ('a')", "CREATE TABLE legacy_more (y)"])
        assert run.ok("drift", "shop", "--quick").code == 0
        assert run.ok("drift", "shop").code == 0


def test_objects_keys_are_checked(servers: ServerPool, tmp_path: Path, run: Runner,
                                  root: Path) -> None:  # fmt: skip
    with servers.fresh("sqlite", tmp_path) as live:
        project(run, root, live)
        (root / "projects/shop/targets.toml").write_text('[objects]\nexclud = ["x"]\n')
        wrong = run("drift", "shop")
        assert wrong.code == 2, wrong.err
        assert "unknown key 'exclud'" in wrong.err, wrong.err


def test_drift_over_a_group_codeclimate_and_junit(
    servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    """20 tenants adopted from one: three changed by hand, each reported with its name,
    by drift and drift --quick; Code Quality and JUnit for CI."""
    tenants = root / "var" / "tenants"
    tenants.mkdir(parents=True)
    with servers.fresh("sqlite", tmp_path, "first") as first:
        build(first, SCHEMAS["sqlite"])
        project(run, root, first)
        run.ok("adopt", "shop")
        for number in range(20):
            shutil.copy(first.url.database or "", tenants / f"t{number:02d}.sqlite")
    (root / "projects/shop/targets.toml").write_text(
        'dialect = "sqlite"\n\n[group.tenants]\nsqlite_glob = "var/tenants/*.sqlite"\n'
    )
    del run.env["SHOP_DATABASE_URL"]
    by_hand = {"t03": BY_HAND["sqlite"][0], "t07": INDEX_BY_HAND, "t15": TABLE_BY_HAND}
    for tenant, statement in by_hand.items():
        url = sa.engine.URL.create("sqlite", database=str(tenants / f"{tenant}.sqlite"))
        build(Database("sqlite", url), [statement])
    names = {"t03": "column phone added", "t07": "index ix_customers_name added",
             "t15": "table audit_by_hand added"}  # fmt: skip
    junit = tmp_path / "drift.xml"
    for quick in ((), ("--quick", "--jobs", "2")):  # in order, and in two worker processes
        found = run("drift", "shop", "--group", "tenants", *quick, "--junit", str(junit))
        assert found.code == EXIT_DRIFT, found.output
        assert "3 of 20 target(s) changed" in found.err
        for tenant, name in names.items():
            assert f"shop@tenants/{tenant}: DRIFT" in found.out
            assert name in found.out
        assert found.out.count("no drift") == 17
        xml = junit.read_text()
        assert xml.count("<testcase") == 20
        assert xml.count("<failure") == 3
    quality = json.loads(run("drift", "shop", "--group", "tenants", "--quick",
                             "--format", "codeclimate").out)  # fmt: skip
    assert len(quality) == 3
    for issue in quality:
        assert issue["location"]["path"] == "projects/shop/targets.toml"
        assert issue["location"]["lines"]["begin"] == 3  # the [group.tenants] line
        assert issue["severity"] == "major"
        assert issue["check_name"].startswith("drift-")
        assert len(issue["fingerprint"]) == 64
    assert len({i["fingerprint"] for i in quality}) == 3


def test_diff_between_two_targets(servers: ServerPool, tmp_path: Path, run: Runner,
                                  root: Path) -> None:  # fmt: skip
    with (
        servers.fresh("sqlite", tmp_path, "staging") as staging,
        servers.fresh("sqlite", tmp_path, "prod") as prod,
    ):
        build(staging, SCHEMAS["sqlite"])
        build(prod, [*SCHEMAS["sqlite"], TABLE_BY_HAND])
        run.ok("new", "shop")
        (root / "projects/shop/targets.toml").write_text(
            f'dialect = "sqlite"\n[env.staging]\nsqlite = "{staging.url.database}"\n'
            f'[env.prod]\nsqlite = "{prod.url.database}"\n'
        )
        same = run.ok("diff", "shop", "--from", "staging", "--to", "staging")
        assert "the same schema" in same.out
        differs = run("diff", "shop", "--from", "staging", "--to", "prod", "--json")
        assert differs.code == EXIT_DRIFT
        result = json.loads(differs.out)["projects"][0]
        assert [(c["object"], c["change"]) for c in result["changes"]] == [
            ("table audit_by_hand", "added")
        ]


@pytest.mark.postgresql
def test_adopt_several_schemas_postgresql(
    servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    """``schemas`` in [objects]: a second schema is adopted with its tables, a foreign key
    across the two and an enum of its own, and recreated on an empty database."""
    with (
        servers.fresh("postgresql", tmp_path, "live") as live,
        servers.fresh("postgresql", tmp_path, "empty") as empty,
    ):
        build(live, [
            "CREATE TABLE accounts (id serial PRIMARY KEY, email text NOT NULL)",
            "CREATE SCHEMA audit",
            "CREATE TYPE audit.action AS ENUM ('insert', 'delete')",
            "CREATE TABLE audit.events (id bigserial PRIMARY KEY, account_id int REFERENCES"
            " public.accounts(id) ON DELETE CASCADE, what audit.action NOT NULL)",
            "CREATE INDEX ix_events_account ON audit.events (account_id)",
        ])  # fmt: skip
        project(run, root, live)
        (root / "projects/shop/targets.toml").write_text(
            '[objects]\nschemas = ["public", "audit"]\n'
        )
        document = json.loads(run.ok("adopt", "shop", "--json").out)["projects"][0]
        assert document["objects"] == {"table": 2, "enum": 1, "sequence": 2}
        run.ok("upgrade", "shop", "--url", empty.url_string)
        scope = Scope(schemas=("public", "audit"))
        with live.connect() as one, empty.connect() as other:
            assert reflect(one, scope).schema == reflect(other, scope).schema
            assert "table audit.events" in reflect(other, scope).schema
            assert fingerprint(one, scope) == fingerprint(other, scope)
        assert run.ok("drift", "shop", "--quick", "--json").code == 0
        build(live, ["ALTER TABLE audit.events ADD COLUMN note text"])
        found = run("drift", "shop")
        assert found.code == EXIT_DRIFT
        assert "table audit.events altered" in found.out
        assert "column note added" in found.out


@pytest.mark.parametrize("backend", BACKENDS)
def test_sql_baseline_reproduces_the_schema(
    backend: str, servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    """``adopt --sql``: the paired .sql files (function bodies, triggers and all) recreate
    the schema on an empty database too."""
    with (
        servers.fresh(backend, tmp_path, "live") as live,
        servers.fresh(backend, tmp_path, "empty") as empty,
    ):
        build(live, SCHEMAS[backend])
        before = snapshot(live)
        project(run, root, live)
        document = json.loads(run.ok("adopt", "shop", "--sql", "--json").out)["projects"][0]
        assert "run_sql_file" in (root / document["files"][0]).read_text()
        run.ok("upgrade", "shop", "--url", empty.url_string)
        assert snapshot(empty) == before
        run.ok("downgrade", "shop", "base", "--url", empty.url_string)
        assert {t for t in empty.tables() if "alembic" not in t} == set()


def test_fingerprint_rows_are_in_the_hash_chain(
    servers: ServerPool, tmp_path: Path, run: Runner, root: Path
) -> None:
    """A fingerprint row edited to hide a change by hand breaks the chain (verify, exit 4);
    a no-op upgrade adds no fingerprint row."""
    with servers.fresh("sqlite", tmp_path) as live:
        build(live, SCHEMAS["sqlite"])
        project(run, root, live)
        run.ok("adopt", "shop")
        run.ok("upgrade", "shop")  # nothing to do: no new row
        rows = live.scalar_rows(
            "SELECT count(*) FROM alembic_changelog_shop WHERE direction = 'fingerprint'"
        )
        assert rows == [(1,)]
        build(live, [TABLE_BY_HAND])
        with live.connect() as connection:
            forged = fingerprint(connection, Scope())
        build(live, [f"UPDATE alembic_changelog_shop SET checksum = '{forged}'"
                     " WHERE direction = 'fingerprint'"])  # fmt: skip
        assert run("drift", "shop", "--quick").code == 0  # the forgery fools the quick check
        broken = run("verify", "shop")
        assert broken.code == EXIT_REFUSED
        assert "hash chain" in broken.output
        assert run("drift", "shop").code == EXIT_DRIFT  # and a replica is not fooled
