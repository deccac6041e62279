"""Checksums of revision files (and their paired .sql files), stable across platforms."""

from __future__ import annotations

import hashlib
from pathlib import Path

from runner.sql_files import sql_file_path


def _normalised(path: Path) -> bytes:
    # A checkout on Windows (CRLF) must not look like an edit.
    return path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def revision_checksum(path: str | Path) -> str:
    """SHA-256 over a revision file and, when present, its paired SQL files.

    Edits to ``.upgrade.sql``/``.downgrade.sql`` change the checksum too: for a
    SQL revision they *are* the change.
    """
    path = Path(path)
    digest = hashlib.sha256(_normalised(path))
    for direction in ("upgrade", "downgrade"):
        sql = sql_file_path(path, direction)
        if sql.is_file():
            digest.update(b"\0" + direction.encode() + b"\0" + _normalised(sql))
    return digest.hexdigest()
