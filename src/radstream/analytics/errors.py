"""Errors raised by the analytics package (named queries, their translation, the Athena engine).

They surface as one-line messages of ``radstream query``; none of them is raised in the pipeline.
"""

from __future__ import annotations

from radstream.deployed.errors import RadStreamError


class QueryNotFoundError(KeyError):
    """No query with that name in athena_queries.sql."""


class QueryTranslationError(ValueError):
    """The SQL could not be parsed or translated from Athena's dialect."""


class AthenaQueryFailedError(RadStreamError):
    """Athena reported FAILED or CANCELLED for a query; the message carries Athena's reason."""


class AthenaQueryTimeoutError(RadStreamError):
    """An Athena query did not finish within the time limit; it was cancelled."""
