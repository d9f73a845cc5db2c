"""Errors raised by the laptop tooling (stack managers, end-to-end checks)."""

from __future__ import annotations


class StackError(RuntimeError):
    """The stack could not be started or reached; the message says what to look at."""


class CheckFailed(AssertionError):
    """One end-to-end check did not hold; the message says what was expected."""
