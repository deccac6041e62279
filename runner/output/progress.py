"""A progress line on a terminal: which step is running, and for how long.

The runner prints one line per step when it is done (runner.run.write). A step
that takes minutes (an index build, a data backfill) would leave a terminal
silent all that time, so on a terminal, and only there, a line below the last
one says what runs and for how long, rewritten in place every second once the
step has run for :data:`AFTER` seconds. Piped output (CI logs, ``> file``) gets
none of it: no carriage returns, no escape codes.

What is running is learnt from Alembic itself: it logs ``Running upgrade A -> B,
message`` just before each step, whatever env.py does with connections and
transactions, so this works for the runner's env.py and a stock one alike. Those
records are otherwise silenced (the runner's own line says it when the step ends).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import TextIO

AFTER = 2.0  # seconds a step runs before the line appears (short steps stay quiet)
EVERY = 1.0  # seconds between rewrites

_CLEAR = "\r\x1b[K"  # back to column 0, erase to the end of the line
# Alembic's "Running upgrade  -> abc, msg": an empty side is base.
_RUNNING = re.compile(r"^Running (upgrade|downgrade|stamp) (.*?) -> (.*)$", re.DOTALL)


def step_label(message: str) -> str | None:
    """``upgrade base -> abc, msg`` from Alembic's "Running ..." message, else None."""
    match = _RUNNING.match(message)
    if match is None:
        return None
    verb, source, rest = match.groups()
    return f"{verb} {source.strip() or 'base'} -> {rest.strip() or 'base'}"


class Ticker:
    """The progress line; one per process, its thread started on first use."""

    def __init__(self, stream: TextIO, lock: threading.RLock) -> None:
        self.stream = stream
        self.lock = lock  # the terminal handler's: lines and the ticker never interleave
        self.label: str | None = None
        self.since = 0.0
        self.shown = False
        self._line = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def running(self, label: str) -> None:
        with self.lock:
            self.clear()
            self.label, self.since = label, time.monotonic()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
            self._thread.start()

    def idle(self) -> None:
        with self.lock:
            self.clear()
            self.label = None

    def clear(self) -> None:
        """Erase the line, if shown (the caller holds the lock)."""
        if self.shown:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self.shown = False

    def stop(self) -> None:
        self._stop.set()
        self.idle()

    def _loop(self) -> None:
        while not self._stop.wait(EVERY / 2):
            with self.lock:
                if self.label is None:
                    continue
                age = time.monotonic() - self.since
                if age < AFTER:
                    continue
                line = f"running {self.label} ({age:.0f} s)"
                if self.shown and line == self._line:
                    continue  # the same text: leave the terminal alone
                self.stream.write(_CLEAR + line)
                self.stream.flush()
                self.shown, self._line = True, line


class TerminalHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr on a terminal: erases the progress line before each message, and feeds
    the ticker with Alembic's "Running ..." records instead of printing them."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        assert self.lock is not None
        self.ticker = Ticker(stream, self.lock)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING and record.name.startswith("alembic"):
            label = step_label(record.getMessage())
            if label is not None:
                self.ticker.running(label)
            return  # Alembic's other notes ("Context impl ...") stay unprinted
        with self.ticker.lock:
            self.ticker.idle()  # a step just ended (its line follows), or something else
            super().emit(record)


_ACTIVE: list[TerminalHandler] = []


def install(handler: TerminalHandler) -> None:
    _ACTIVE.append(handler)


def stop() -> None:
    """Erase the line before the process prints its last words (an ``error:`` line)."""
    for handler in _ACTIVE:
        handler.ticker.stop()
