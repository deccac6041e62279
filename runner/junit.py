"""JUnit XML for CI: the format GitLab, Jenkins and GitHub test reporters read.

Generic on purpose (suites of cases, each passed, failed or skipped), so every
verb with per-item verdicts can render through it. The shape follows the
common subset those tools accept::

    <testsuites name=...>
      <testsuite name=... tests= failures= errors="0" skipped= time=>
        <testcase classname=... name=... time=>
          <failure message=... type=...>details</failure>   (or <skipped message=.../>)

Every text is scrubbed of known secrets, like all other output.

>>> print(render("demo", [Suite("p", [Case("p", "r1", failure="boom", kind="upgrade")])]))
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

from runner import redact


@dataclass(frozen=True)
class Case:
    """One test case; ``failure`` (the one-line message) makes it failed, ``skipped`` skipped."""

    classname: str
    name: str
    seconds: float = 0.0
    failure: str | None = None
    kind: str = "failure"
    details: str = ""
    skipped: str | None = None


@dataclass(frozen=True)
class Suite:
    """A named group of cases (for example one project)."""

    name: str
    cases: list[Case] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(case.seconds for case in self.cases)


def _counts(cases: Sequence[Case]) -> dict[str, str]:
    return {
        "tests": str(len(cases)),
        "failures": str(sum(case.failure is not None for case in cases)),
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
    if case.failure is not None:
        failure = ET.SubElement(
            element, "failure", {"message": redact.scrub(case.failure), "type": case.kind}
        )
        if case.details:
            failure.text = redact.scrub(case.details)
    elif case.skipped is not None:
        ET.SubElement(element, "skipped", {"message": redact.scrub(case.skipped)})


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
