"""Saved plans: what a reviewer approved, so a deploy runs exactly that.

``runner plan --out FILE`` writes, per target, the revision it starts from,
the revisions it applies with their checksums, and a digest of the rendered
SQL. ``runner apply FILE`` re-checks all of it (under the project lock for the
database's revision) and refuses, naming what moved, before running anything.
The file never holds a password: URLs are stored as displayed (``***``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runner import __version__
from runner.errors import ConfigError
from runner.output.results import PlanResult

KIND = "docker-alembic-plan"
FORMAT_VERSION = 1


def sql_digest(sql: str) -> str:
    """SHA-256 of rendered SQL, insensitive to line endings and trailing blanks."""
    normalised = "\n".join(line.rstrip() for line in sql.strip().splitlines())
    return hashlib.sha256(normalised.encode()).hexdigest()


@dataclass(frozen=True)
class PlannedTarget:
    """One project's part of a plan."""

    project: str
    url: str
    dialect: str
    start: list[str]
    end: list[str]
    checksums: dict[str, str]  # revision id -> checksum, in apply order
    sql_digest: str

    @property
    def digest(self) -> str:
        """What the change log records as ``plan_digest`` for this target."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def from_result(cls, result: PlanResult, checksums: dict[str, str]) -> PlannedTarget:
        return cls(
            project=result.project,
            url=result.url,
            dialect=result.dialect,
            start=list(result.before),
            end=list(result.after),
            checksums=checksums,
            sql_digest=sql_digest(result.sql),
        )


def write(path: Path, targets: list[PlannedTarget], git_commit: str | None) -> None:
    document = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "runner_version": __version__,
        "git_commit": git_commit,
        "targets": [{**asdict(t), "digest": t.digest} for t in targets],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def read(path: Path) -> list[PlannedTarget]:
    """The targets of a plan file; a damaged or foreign file is a :class:`ConfigError`."""
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read plan file {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"plan file {path} is not JSON (line {exc.lineno})") from exc
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ConfigError(f"{path} is not a docker-alembic plan (made by: runner plan --out)")
    if document.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"plan file {path} has format {document.get('format_version')!r}; this runner"
            f" reads {FORMAT_VERSION}: make the plan again with this runner"
        )
    targets = []
    for raw in document.get("targets", []):
        stored = raw.pop("digest", None)
        try:
            target = PlannedTarget(**raw)
        except TypeError as exc:
            raise ConfigError(f"plan file {path} has a malformed target: {exc}") from exc
        if stored != target.digest:
            raise ConfigError(
                f"plan file {path}: the entry for {target.project!r} was edited after it was"
                " made (digest mismatch); make the plan again"
            )
        targets.append(target)
    return targets
