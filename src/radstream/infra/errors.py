"""Errors raised by the infra package (targets, packaging, deploy)."""

from __future__ import annotations


class TargetError(ValueError):
    """A target cannot be used as asked (unknown name, missing setting or credentials); one line."""


class DeployError(RuntimeError):
    """CloudFormation could not bring a stack where deploy wanted it; the message says why and what to do."""
