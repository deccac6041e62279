"""The catalogue itself: big enough, every case a real test, docs/reliability.md current."""

from __future__ import annotations

import importlib

from tests.conftest import REPO
from tests.reliability import catalogue

DOC = REPO / "docs" / "reliability.md"


def test_the_catalogue_has_at_least_forty_cases() -> None:
    assert len(catalogue.load()) >= 40


def test_every_case_names_a_test_that_exists() -> None:
    for item in catalogue.load():
        module, function = item.test.split("::")
        assert callable(getattr(importlib.import_module(f"tests.{module}"), function)), item


def test_docs_reliability_md_is_generated_from_the_tests() -> None:
    assert DOC.read_text(encoding="utf-8") == catalogue.render(), (
        "docs/reliability.md is out of date: python -m tests.reliability.catalogue"
        " > docs/reliability.md"
    )
