"""Errors shared by the domain packages.

A handler lets these propagate: the Lambda runtime reports the exception's class name as
``errorType``, Step Functions uses that as the error name, so ``ErrorEquals`` and the failure
record's ``error.code`` both see e.g. ``MetadataValidationError``. One class per distinct cause
keeps routing and reporting specific.
"""


class RadStreamError(Exception):
    """Base class of every error RadStream raises on purpose."""


class MetadataValidationError(RadStreamError):
    """The sidecar metadata is missing fields, has wrong types or unsafe values."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("Invalid metadata: " + "; ".join(self.problems))


class StudyNotFoundError(RadStreamError):
    """The image an event points to does not exist in S3."""


class TransientError(RadStreamError):
    """A failure worth retrying (the workflow's Retry lists the subclasses by name)."""


class ModelServerUnavailableError(TransientError):
    """The model server could not be reached or answered 503 after the client's own retries."""


class ModelServerError(RadStreamError):
    """The model server answered with a non-retryable error (4xx, bad response)."""


class ConfigurationError(RadStreamError):
    """The function was deployed without a setting it needs (names the environment variable)."""
