"""Errors raised by the intake package (is this a study we can take?)."""

from __future__ import annotations

from radstream.deployed.errors import RadStreamError


class MetadataValidationError(RadStreamError):
    """The sidecar metadata is missing fields, has wrong types or unsafe values, or the upload
    itself was malformed (no image or several beside the sidecar, sidecar not JSON)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("Invalid metadata: " + "; ".join(self.problems))
