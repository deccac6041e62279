"""What every catalogue case checks after the fault: one line, the exit code, a known
database state that ``status`` agrees with, a consistent change log, no password."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Outcome, Runner

# Distinctive, so that any fragment of it in an output is a leak, not a coincidence.
PASSWORD = "Rel1ab1l1ty-Pw"
SIGNAL_LINES = ("interrupted", "terminated (SIGTERM)")


@dataclass(frozen=True)
class Settled:
    """Where things stand after a case, as ``status`` and ``verify`` say."""

    current: list[str]
    verify_ok: bool
    problems: list[str]


def one_line(outcome: Outcome | subprocess.CompletedProcess[str], code: int) -> str:
    """The exit code is ``code`` and stderr ends with exactly one error line; return it."""
    returncode = outcome.code if isinstance(outcome, Outcome) else outcome.returncode
    err = outcome.err if isinstance(outcome, Outcome) else outcome.stderr
    assert returncode == code, f"exit {returncode}, expected {code}:\n{err}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ") or line.startswith(SIGNAL_LINES)]
    assert len(errors) == 1, err
    assert lines[-1] == errors[0], err
    return errors[0]


def settle(
    run: Runner,
    project: str,
    expect_current: Sequence[str] | None = None,
    *,
    log_ok: bool = True,
    secrets: Sequence[str] = (PASSWORD,),
    files: Sequence[Path] = (),
    outputs: Sequence[Outcome] = (),
) -> Settled:
    """``status`` and ``verify`` agree on a known revision; no secret anywhere."""
    status = run("status", project, "--json")
    assert status.code in (0, 4), status.output  # 4: status reports what refuses writes
    document = json.loads(status.out)["projects"][0]
    current = list(document["current"])
    if expect_current is not None:
        assert sorted(current) == sorted(expect_current), document
    verified = run("verify", project, "--json")
    problems = [p["kind"] for p in json.loads(verified.out)["projects"][0]["problems"]]
    if log_ok:
        assert verified.code == 0, verified.output
    logged = run("log", project, "--json")
    texts = [o.output for o in (*outputs, status, verified, logged)]
    texts += [path.read_text(errors="replace") for path in files if path.is_file()]
    for secret in secrets:
        for text in texts:
            assert secret not in text, text
    return Settled(current, verified.code == 0, problems)
