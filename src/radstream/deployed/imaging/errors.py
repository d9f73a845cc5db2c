"""Errors raised by the imaging package.

Every class is one distinct cause: its *name* becomes the Lambda ``errorType``, the Step Functions
error name and the failure record's ``error.code``. Messages say what is wrong and what to do and
never contain patient information (no names, IDs, dates or UIDs from the file).
"""

from __future__ import annotations

from radstream.deployed.errors import RadStreamError


class ImageError(RadStreamError):
    """Base class: the submitted image cannot be turned into a model tensor."""


class EmptyFileError(ImageError):
    """The file has zero bytes."""


class TruncatedImageError(ImageError):
    """The file starts like a known format but ends before the image data is complete."""


class CorruptImageError(ImageError):
    """The file is a known format but its structure or compressed data is invalid."""


class UnsupportedFormatError(ImageError):
    """The content is not an image RadStream accepts (DICOM Part 10, JPEG, PNG)."""


class ExtensionMismatchError(ImageError):
    """The filename extension says one format and the content is another."""


class DecompressionBombError(ImageError):
    """The header declares more pixels than the limit (checked before any decoding)."""


class ImageTooSmallError(ImageError):
    """The image is too small to be a radiograph (smaller than the minimum side length)."""


class AspectRatioError(ImageError):
    """Width/height ratio outside what a chest radiograph can have."""


class MultiFrameError(ImageError):
    """More than one frame (multi-frame DICOM, animated PNG, MPO JPEG): one image is required."""


class ColourImageError(ImageError):
    """Colour image where a grayscale radiograph is required."""


class CmykImageError(ImageError):
    """CMYK/YCCK JPEG (print-oriented colour), not a radiograph."""


class UnsupportedBitDepthError(ImageError):
    """Sample depth outside what is supported (DICOM 8-16 bit integer, JPEG 8 bit, PNG <= 16 bit)."""


class UnsupportedTransferSyntaxError(ImageError):
    """DICOM pixel data is encoded with a transfer syntax no installed decoder handles."""


class NotChestImageError(ImageError):
    """The header (or sidecar) says the image is not a chest radiograph (body part or modality)."""


class MetadataMismatchError(ImageError):
    """The sidecar metadata contradicts the image header (view, modality, body part, size)."""


class BurnedInAnnotationError(ImageError):
    """The pixels carry burned-in text (BurnedInAnnotation = YES) that header de-identification cannot remove."""


__all__ = [
    "ImageError",
    "EmptyFileError",
    "TruncatedImageError",
    "CorruptImageError",
    "UnsupportedFormatError",
    "ExtensionMismatchError",
    "DecompressionBombError",
    "ImageTooSmallError",
    "AspectRatioError",
    "MultiFrameError",
    "ColourImageError",
    "CmykImageError",
    "UnsupportedBitDepthError",
    "UnsupportedTransferSyntaxError",
    "NotChestImageError",
    "MetadataMismatchError",
    "BurnedInAnnotationError",
]
