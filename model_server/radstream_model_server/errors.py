"""Errors raised inside the model server; ``app`` turns each into its HTTP answer.

The pipeline never sees these classes: its client (``radstream.deployed.inference``) maps the HTTP
status to its own ``ModelServerError`` / ``ModelServerUnavailableError``.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A request the server must refuse; ``status`` is the HTTP status code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
        self.message = message


class ModelLoadError(RuntimeError):
    """The configured model cannot be found or loaded."""


class ModelExecutionError(RuntimeError):
    """The model failed on a (validated) batch."""


class QueueFullError(RuntimeError):
    """More requests are waiting than ``max_queue_size`` allows (the server answers 503)."""
