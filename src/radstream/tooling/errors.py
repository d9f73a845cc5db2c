"""Errors raised by the laptop tooling (stack managers, end-to-end checks)."""

from __future__ import annotations


class StackError(RuntimeError):
    """The stack could not be started or reached; the message says what to look at."""


class CheckFailed(AssertionError):
    """One end-to-end check did not hold; the message says what was expected."""


class PricingError(ValueError):
    """The pricing file is missing, unreadable or lacks a price; the message names the file and key."""


class ExperimentError(ValueError):
    """An A/B experiment cannot run as asked (an unknown scenario, an arm the target cannot apply)."""


class InvalidStudyError(ValueError):
    """The client refuses a study before uploading anything (an unsafe or over-long study id)."""


class StudyIdTakenError(RuntimeError):
    """A different upload already holds this study id: nothing was merged into it."""

    code = "StudyIdTaken"
