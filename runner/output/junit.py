"""JUnit XML for CI: the format GitLab, Jenkins and GitHub test reporters read.

Generic on purpose (suites of cases, each passed, failed or skipped), so every
verb with per-item verdicts (``lint``, ``test``) renders through it. The shape
follows the common subset those tools accept::

    <testsuites name=...>
      <testsuite name=... tests= failures= errors="0" skipped= time=>
        <testcase classname=... name=... time=>
          <failure message=... type=...>details</failure>   (one per failure, or <skipped/>)
          <system-out>notes</system-out>                      (when there are notes)

Every text is scrubbed of known secrets, like all other output.

>>> print(render("demo", [Suite("p", [Case("p", "r1", failures=[Failure("boom", "upgrade")])])]))
<?xml version='1.0' encoding='utf-8'?>
<testsuites name="demo" tests="1" failures="1" errors="0" skipped="0" time="0.000">
  <testsuite name="p" tests="1" failures="1" errors="0" skipped="0" time="0.000">
    <testcase classname="p" name="r1" time="0.000">
      <failure message="boom" type="upgrade" />
    </testcase>
  </testsuite>
</testsuites>
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import ConfigError
from runner.output import redact


@dataclass(frozen=True)
class Failure:
    """Why a case failed: a one-line message, a type (the step or rule), details."""

    message: str
    kind: str = "failure"
    details: str = ""


@dataclass(frozen=True)
class Case:
    """One test case: failed when it has ``failures``, skipped when ``skipped`` is set."""

    classname: str
    name: str
    seconds: float = 0.0
    failures: Sequence[Failure] = ()
    skipped: str | None = None
    output: str = ""  # notes for the reader (<system-out>), whatever the verdict


@dataclass(frozen=True)
class Suite:
    """A named group of cases (for example one project)."""

    name: str
    cases: list[Case] = field(default_factory=list)


def _counts(cases: Sequence[Case]) -> dict[str, str]:
    return {
        "tests": str(len(cases)),
        "failures": str(sum(bool(case.failures) for case in cases)),
        "errors": "0",
        "skipped": str(sum(case.skipped is not None for case in cases)),
        "time": f"{sum(case.seconds for case in cases):.3f}",
    }


def _case_element(parent: ET.Element, case: Case) -> None:
    element = ET.SubElement(
        parent,
        "testcase",
        {"classname": case.classname, "name": case.name, "time": f"{case.seconds:.3f}"},
    )
    for failure in case.failures:
        item = ET.SubElement(
            element, "failure", {"message": redact.scrub(failure.message), "type": failure.kind}
        )
        if failure.details:
            item.text = redact.scrub(failure.details)
    if case.skipped is not None and not case.failures:
        ET.SubElement(element, "skipped", {"message": redact.scrub(case.skipped)})
    if case.output:
        ET.SubElement(element, "system-out").text = redact.scrub(case.output)


def render(name: str, suites: Sequence[Suite]) -> str:
    """The JUnit XML document for ``suites``, as text."""
    all_cases = [case for suite in suites for case in suite.cases]
    root = ET.Element("testsuites", {"name": name, **_counts(all_cases)})
    for suite in suites:
        element = ET.SubElement(root, "testsuite", {"name": suite.name, **_counts(suite.cases)})
        for case in suite.cases:
            _case_element(element, case)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def write(path: Path, name: str, suites: Sequence[Suite]) -> None:
    """Write :func:`render` to ``path`` (folders created); an unwritable path is exit 2."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(name, suites) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write JUnit report {path}: {exc.strerror}") from exc
