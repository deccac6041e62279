"""Keep passwords out of everything we print, log or write.

:func:`scrub` runs over every text before it reaches a terminal, a log
handler, a JSON document, a report or a plan file, and hides credentials where
they appear *as credentials*:

* the password of any URL's userinfo (``scheme://user:PASSWORD@host``), whether
  or not the runner has seen it before: a URL typed where a project name or a
  revision belongs is echoed in the error, and must not carry its password (also
  when the echo cut the URL at its ``@``, or turned ``//`` into ``/``);
* the value of a credential parameter (``password=``, ``passwd=``, ``pwd=``,
  ``sslpassword=``, ``token=``, ...), in a URL's query or a driver's message;
* every password the runner learned (:func:`register`) that is distinctive
  enough to be masked wherever it appears: drivers echo parts of a connection
  string in their own errors. A short or dictionary-like password ("postgres")
  is masked only in the two positions above: masking it everywhere would turn
  ``postgresql+psycopg`` into ``***ql+psycopg``, corrupting output and telling
  the password to anyone who compares.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus

MASK = "***"

_secrets: set[str] = set()

# scheme://user:password@ (the password may be URL-encoded; it ends at the last @
# before the host, so an @ inside an unencoded password is covered too).
_SCHEME = r"\b[a-zA-Z][a-zA-Z0-9+.\-]*:/{1,2}"  # one slash: a URL that became a path
_USERINFO = re.compile(
    rf"(?P<head>{_SCHEME}[^\s:/@'\"]*:)(?P<secret>[^\s'\"]*?)"
    r"(?P<tail>@[^\s@'\"/]+(?:[/?#\s'\"]|$))"
)
# scheme://user:secret with the @host cut off (Alembic stops a revision name at "@");
# a number there is a port, not a password.
_CUT_USERINFO = re.compile(rf"(?P<head>{_SCHEME}[^\s:/@'\"]*:)(?!\d+\b)(?P<secret>[^\s'\"/@]+)")
_CREDENTIAL_NAMES = (
    "password|passwd|pwd|pass|sslpassword|secret|token|access_token|auth_token|api_key|apikey"
)
_PARAMETER = re.compile(
    rf"(?P<head>\b(?:{_CREDENTIAL_NAMES})\s*=\s*)(?P<secret>[^&\s'\";,)]+)", re.IGNORECASE
)


def credential_parameter(name: str) -> bool:
    """Whether a URL query parameter called ``name`` carries a credential."""
    return re.fullmatch(_CREDENTIAL_NAMES, name, re.IGNORECASE) is not None


def distinctive(secret: str) -> bool:
    """Whether ``secret`` may be masked as a plain substring without hitting other words:
    at least 8 characters and not only letters, or at least 16."""
    return len(secret) >= 16 or (len(secret) >= 8 and not secret.isalpha())


def register(secret: str | None) -> None:
    """Remember ``secret`` (and its URL-encoded spellings) for :func:`scrub`."""
    if not secret or not distinctive(secret):
        return  # still hidden where it appears as a credential (see the module docstring)
    _secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})


def scrub(text: str) -> str:
    """Return ``text`` with every credential replaced by ``***``."""
    text = _USERINFO.sub(_masked, text)
    text = _CUT_USERINFO.sub(_masked, text)
    text = _PARAMETER.sub(_masked, text)
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _masked(match: re.Match[str]) -> str:
    secret = match.group("secret")
    if not secret or secret == MASK:
        return match.group(0)
    tail = match.groupdict().get("tail") or ""
    return f"{match.group('head')}{MASK}{tail}"


class ScrubFilter(logging.Filter):
    """Logging filter that scrubs the rendered message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        return True
