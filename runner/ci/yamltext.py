"""A small YAML writer for generated pipelines: block mappings and sequences, every
string double-quoted (JSON's quoting, which YAML reads the same), so no value is ever
mistaken for a number, a boolean or YAML syntax. No dependency on a YAML library."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any


def dump(document: Mapping[str, Any], header: str = "") -> str:
    """``document`` as YAML, after ``header`` (comment lines, each starting with ``#``)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for key, value in document.items():
        if lines and not lines[-1].startswith("#"):
            lines.append("")  # a blank line between top-level entries: a readable file
        lines += _entry(key, value, 0)
    return "\n".join(lines) + "\n"


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_:./-]*")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _key(key: str) -> str:
    """A key as written by hand where that is safe (``lint:billing``), else quoted."""
    if _PLAIN_KEY.fullmatch(key) and key.lower() not in _RESERVED and not key.endswith(":"):
        return key
    return _scalar(key)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def _flat(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple)) or not value


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return _scalar(value)


def _entry(key: str, value: Any, depth: int) -> list[str]:
    pad = "  " * depth
    if _flat(value):
        return [f"{pad}{_key(key)}: {_inline(value)}"]
    return [f"{pad}{_key(key)}:", *_block(value, depth + 1)]


def _block(value: Mapping[str, Any] | Sequence[Any], depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, Mapping):
        return [line for key, item in value.items() for line in _entry(key, item, depth)]
    lines = []
    for item in value:
        if _flat(item):
            lines.append(f"{pad}- {_inline(item)}")
            continue
        inner = _block(item, depth + 1)
        lines.append(f"{pad}- {inner[0].lstrip()}")
        lines += inner[1:]
    return lines
