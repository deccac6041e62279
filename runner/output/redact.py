"""Keep passwords out of everything we print or log.

Every password the runner learns (from a URL, whatever its source) is registered
here; :func:`scrub` replaces each of them, raw and URL-encoded, in any text
before it reaches a terminal, a log handler or a JSON document. Hiding the
password when *we* render a URL is not enough: drivers echo parts of the
connection string in their own error messages.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, quote_plus

MASK = "***"

_secrets: set[str] = set()


def register(secret: str | None) -> None:
    """Remember ``secret`` (and its URL-encoded spellings) for :func:`scrub`."""
    if not secret:
        return
    # Very short secrets would mask innocent text everywhere; they are still
    # hidden in URLs we render, which is where they would appear.
    if len(secret) < 3:
        return
    _secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class ScrubFilter(logging.Filter):
    """Logging filter that scrubs the rendered message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        return True
