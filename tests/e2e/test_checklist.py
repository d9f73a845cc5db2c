"""The end-to-end check list `radstream e2e --comprehensive` runs (radstream.tooling.e2e), one test per
check, against the session's embedded stack. The list is defined once, in e2e.py; add checks there."""

import uuid

import pytest

from radstream.tooling.e2e import BASIC, COMPREHENSIVE, Checks


@pytest.fixture(scope="module")
def checks(embedded_stack) -> Checks:
    return Checks(embedded_stack.target, f"pytest-{uuid.uuid4().hex[:8]}")


@pytest.mark.parametrize("name", BASIC + COMPREHENSIVE)
def test_check(checks, name):
    getattr(checks, name)()  # raises CheckFailed saying what it saw
