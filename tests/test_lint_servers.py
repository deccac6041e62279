"""Lint reads the project's targets.toml: the server version picks version-dependent
rules and severities, and timeouts declared for every target satisfy the timeout rules.

Real projects on disk through the real CLI, offline (nothing is ever connected).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.project import repository
from tests.conftest import Runner

REVISION = '''"""{doc}"""

import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
'''


def make_project(root: Path, targets: str, revisions: list[tuple[str, str, str]]) -> None:
    folder = root / "projects" / "shop"
    repository.write_template(folder, "shop")
    (folder / "targets.toml").write_text(targets, encoding="utf-8")
    down = None
    for rev, upgrade, downgrade in revisions:
        text = REVISION.format(doc=rev, rev=rev, down=down, upgrade=upgrade, downgrade=downgrade)
        (folder / "versions" / f"{rev}.py").write_text(text, encoding="utf-8")
        down = rev


BASE = (
    "r1",
    'op.create_table("orders", sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True))',
    'op.drop_table("orders")',
)
DEFAULTED = (
    "r2",
    'op.add_column("orders", sa.Column("status", sa.Text, server_default="new"))',
    'op.drop_column("orders", "status")',
)
ADD_LAST = (
    "r2",
    'op.add_column("orders", sa.Column("note", sa.Text))',
    'op.drop_column("orders", "note")',
)


def findings(run: Runner) -> dict[str, dict[str, Any]]:
    outcome = run("lint", "shop", "--json")
    (project,) = json.loads(outcome.out)["projects"]
    return {f"{f['revision']} {f['rule']}": f for f in project["findings"]}


def test_postgresql_version_decides_the_default_rewrite(run: Runner, root: Path) -> None:
    make_project(root, 'dialect = "postgresql"\nserver_version = "10"\n', [BASE, DEFAULTED])
    old = findings(run)
    assert old["r2 add-column-default-rewrite"]["severity"] == "error"
    assert run("lint", "shop").code == 1

    make_project(root, 'dialect = "postgresql"\nserver_version = "16"\n', [BASE, DEFAULTED])
    new = findings(run)
    assert "r2 add-column-default-rewrite" not in new
    assert run("lint", "shop").code == 0


def test_mysql_and_mariadb_versions(run: Runner, root: Path) -> None:
    make_project(root, 'dialect = "mysql"\nserver_version = "5.7"\n', [BASE, ADD_LAST])
    assert "r2 mysql-add-column-rebuild" in findings(run)
    make_project(root, 'dialect = "mysql"\nserver_version = "8.0.36"\n', [BASE, ADD_LAST])
    assert "r2 mysql-add-column-rebuild" not in findings(run)
    # MySQL has no 10.x: a 10.x version is MariaDB, which adds columns instantly since 10.3.
    make_project(root, 'dialect = "mysql"\nserver_version = "10.2"\n', [BASE, ADD_LAST])
    assert "r2 mysql-add-column-rebuild" in findings(run)
    make_project(root, 'dialect = "mysql"\nserver_version = "10.11"\n', [BASE, ADD_LAST])
    assert "r2 mysql-add-column-rebuild" not in findings(run)


def test_declared_timeouts_satisfy_the_timeout_rules(run: Runner, root: Path) -> None:
    # The deploy guard's lock wait is on by default: only the statement timeout is missing.
    make_project(root, 'dialect = "postgresql"\n', [BASE, ADD_LAST])
    bare = findings(run)
    assert "r2 missing-lock-timeout" not in bare
    assert "r2 missing-statement-timeout" in bare

    # The guard turned off everywhere: the statement waits for its lock unbounded.
    make_project(root, 'dialect = "postgresql"\n[defaults]\ndb_lock_timeout = 0\n',
                 [BASE, ADD_LAST])  # fmt: skip
    off = findings(run)
    assert "r2 missing-lock-timeout" in off
    assert "r1 missing-lock-timeout" not in off  # a new table: nobody waits on it

    guarded = (
        'dialect = "postgresql"\n[defaults]\ndb_lock_timeout = 5\nstatement_timeout = 600\n'
        '[env.prod]\nurl_env = "SHOP_PROD_URL"\n'
    )
    make_project(root, guarded, [BASE, ADD_LAST])
    found = findings(run)
    assert "r2 missing-lock-timeout" not in found
    assert "r2 missing-statement-timeout" not in found

    # One target without the timeout (0 switches it off) is enough for a queue.
    unguarded_env = guarded + '[env.staging]\nurl_env = "SHOP_STAGING_URL"\ndb_lock_timeout = 0\n'
    make_project(root, unguarded_env, [BASE, ADD_LAST])
    found = findings(run)
    assert "r2 missing-lock-timeout" in found
    assert "r2 missing-statement-timeout" not in found
