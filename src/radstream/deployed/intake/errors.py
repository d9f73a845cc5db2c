"""Errors raised by the intake package (is this a study we can take?)."""

from __future__ import annotations

from radstream.deployed.errors import RadStreamError


class MetadataValidationError(RadStreamError):
    """The sidecar metadata is missing fields, has wrong types or unsafe values, or the upload
    itself was malformed (no image or several beside the sidecar, sidecar not JSON)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("Invalid metadata: " + "; ".join(self.problems))


class UploadRefusedError(RadStreamError):
    """Base class: the upload trigger refuses an upload before any work and records the failure
    itself (no execution is started). Each subclass is one cause and one error code."""


class UploadKeyError(UploadRefusedError):
    """The object's key is not ``incoming/<study id>/<file>`` with a safe study id."""


class SidecarTooLargeError(UploadRefusedError):
    """The sidecar is larger than the limit (checked from its size, before it is read)."""


class SidecarEncodingError(UploadRefusedError):
    """The sidecar is not UTF-8 text."""


class SidecarTooDeepError(UploadRefusedError):
    """The sidecar's JSON nests deeper than the limit."""


class ImageTooLargeError(UploadRefusedError):
    """The image file is larger than the limit (checked from the object's size, before download)."""


class WorkflowStartError(UploadRefusedError):
    """Step Functions refused to start the study's execution for a reason retrying cannot fix."""


class ImageChangedError(RadStreamError):
    """The image the study was started for is not the one stored now: its declared SHA-256 differs
    from the bytes read, or (in a bucket without versioning) it was replaced after the study started."""
