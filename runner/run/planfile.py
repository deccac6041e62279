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
FORMAT_VERSION = 2  # 2: the whole document is covered by document_digest


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
    destination: str = "heads"  # what the upgrade goes to: heads, or one revision

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
            destination=result.destination,
        )


def _document_digest(document: dict[str, Any]) -> str:
    """SHA-256 of the document without its own digest: removing, adding or changing any
    target (or anything else) shows."""
    body = {k: v for k, v in document.items() if k != "document_digest"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def write(path: Path, targets: list[PlannedTarget], git_commit: str | None) -> None:
    document: dict[str, Any] = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "runner_version": __version__,
        "git_commit": git_commit,
        "targets": [{**asdict(t), "digest": t.digest} for t in targets],
    }
    document["document_digest"] = _document_digest(document)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write plan file {path}: {exc.strerror}") from exc


def read(path: Path) -> list[PlannedTarget]:
    """The targets of a plan file; a damaged or foreign file is a :class:`ConfigError`."""
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read plan file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"plan file {path} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"plan file {path} is not JSON (line {exc.lineno})") from exc
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ConfigError(f"{path} is not a docker-alembic plan (made by: runner plan --out)")
    if document.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"plan file {path} has format {document.get('format_version')!r}; this runner"
            f" reads {FORMAT_VERSION}: make the plan again with this runner"
        )
    if document.get("document_digest") != _document_digest(document):
        raise ConfigError(
            f"plan file {path} was edited after it was made (its digest does not match):"
            " make the plan again"
        )
    raw_targets = document.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise ConfigError(f"plan file {path} holds no targets: make the plan again")
    targets = []
    for raw in raw_targets:
        if not isinstance(raw, dict):
            raise ConfigError(f"plan file {path} has a malformed target: make the plan again")
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
