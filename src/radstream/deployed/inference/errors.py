"""Errors raised by the inference package (the model server call and its input tensor)."""

from __future__ import annotations

from radstream.deployed.errors import RadStreamError, TransientError


class ModelServerUnavailableError(TransientError):
    """The model server could not be reached or answered 503 after the client's own retries."""


class ModelServerError(RadStreamError):
    """The model server answered with a non-retryable error (4xx, bad response)."""


class InvalidTensorError(RadStreamError):
    """The tensor handed to inference is not an image tensor the model can take."""
