"""Checksums of revision files (and their paired .sql files), stable across platforms."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Container
from pathlib import Path

from runner.project.sql_files import Direction, sql_file_name


def _normalised(path: str) -> bytes:
    with open(path, "rb") as file:
        # A checkout on Windows (CRLF) must not look like an edit.
        return file.read().replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def revision_checksum(path: str | Path, listing: Container[str] | None = None) -> str:
    """SHA-256 over a revision file and, when present, its paired SQL files.

    Edits to ``.upgrade.sql``/``.downgrade.sql`` change the checksum too: for a
    SQL revision they *are* the change. ``listing``, the names in the file's
    folder when the caller has them, saves two file-system lookups per revision.
    Plain strings, not ``pathlib``: this runs for every revision of every run.
    """
    path = os.fspath(path)
    digest = hashlib.sha256(_normalised(path))
    folder, name = os.path.split(path)
    directions: tuple[Direction, ...] = ("upgrade", "downgrade")
    for direction in directions:
        sql_name = sql_file_name(name, direction)
        sql = os.path.join(folder, sql_name)
        if sql_name in listing if listing is not None else os.path.isfile(sql):
            digest.update(b"\0" + direction.encode() + b"\0" + _normalised(sql))
    return digest.hexdigest()
