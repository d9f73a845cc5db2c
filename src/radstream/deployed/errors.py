"""The error base classes, and the errors several deployed packages share.

A handler lets RadStream errors propagate: the Lambda runtime reports the exception's class name as
``errorType``, Step Functions uses that as the error name, so ``ErrorEquals`` and the failure
record's ``error.code`` both see e.g. ``MetadataValidationError``. Class names are therefore part
of the contract (the workflow's Retry, failure records, telemetry, the README's error-code table):
rename one only together with all of those. One class per distinct cause keeps routing and
reporting specific.

Each package that raises errors of its own keeps them in its ``errors`` module:
``intake.errors`` (sidecar validation), ``imaging.errors`` (one class per image problem),
``inference.errors`` (model server and tensor), ``telemetry.errors`` (never fail a handler).
"""


class RadStreamError(Exception):
    """Base class of every error RadStream raises on purpose."""


class TransientError(RadStreamError):
    """A failure worth retrying (the workflow's Retry lists the subclasses by name)."""


class ConfigurationError(RadStreamError):
    """The function was deployed without a setting it needs (names the environment variable)."""


class StudyNotFoundError(RadStreamError):
    """The image an event points to does not exist in S3."""
