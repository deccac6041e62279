#!/usr/bin/env python3
"""Refuse to run a CI job on the embedded SQLite default instead of the real database.

    python ci/require_target.py example billing      # deploy: exit 2 unless each has a URL
    python ci/require_target.py --warn example       # plan: say so, carry on

With no URL configured the runner falls back to ``var/<name>.sqlite``: right on
a laptop, wrong in a deploy job, which would then "succeed" on a throw-away file
inside the CI container. This asks ``python -m runner list --json`` (no database
access; same interpreter, so run it where the runner is installed) where each
project's URL comes from and fails, naming the CI secret to set, when it is the
embedded default. Exit 0 when every project has a URL (or with ``--warn``), 2 when
one does not or a project is unknown; the runner's own exit code if ``list`` fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence

EMBEDDED = "embedded default"


def url_sources() -> dict[str, str]:
    """``{project: url_source}`` from ``runner list --json`` (root from ``RUNNER_ROOT``)."""
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "list", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    document = json.loads(proc.stdout)
    return {p["project"]: p["url_source"] for p in document["projects"]}


def env_stem(name: str) -> str:
    """``billing-eu`` -> ``BILLING_EU`` (the runner's rule)."""
    return name.upper().replace("-", "_")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fail when a project would run on the embedded SQLite default."
    )
    parser.add_argument("projects", nargs="+", metavar="PROJECT")
    parser.add_argument("--warn", action="store_true", help="Only warn; exit 0.")
    args = parser.parse_args(argv)
    sources = url_sources()
    bad = 0
    for name in args.projects:
        source = sources.get(name)
        if source is None:
            print(f"error: {name}: unknown project (known: {', '.join(sources)})", file=sys.stderr)
            bad += 1
        elif source == EMBEDDED:
            variable = f"{env_stem(name)}_DATABASE_URL"
            level = "warning" if args.warn else "error"
            print(
                f"{level}: {name}: no database URL configured, so the runner would use the"
                f" embedded SQLite default; set the CI secret {variable}_FILE (a file holding"
                f" the URL) or {variable}",
                file=sys.stderr,
            )
            bad += 0 if args.warn else 1
        else:
            print(f"{name}: database URL from {source}", file=sys.stderr)
    return 2 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
