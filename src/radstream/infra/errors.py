"""Errors raised by the infra package (targets, packaging, deploy)."""

from __future__ import annotations


class TargetError(ValueError):
    """A target cannot be used as asked (unknown name, missing setting or credentials); one line."""
