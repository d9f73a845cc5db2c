"""A pipeline sidecar derived from a DICOM header, for uploads that come without one.

The study id is a salted hash of the Study Instance UID (never a patient or accession ID); the
other fields are the header's view, study timestamp, modality and body part. Used by the tooling
(``radstream submit x.dcm``); the pipeline itself validates whatever sidecar arrives.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

from .dicom_decode import element_str, quiet, read_dataset
from .errors import EmptyFileError, UnsupportedFormatError
from .formats import DICOM, sniff


def study_id_from_uid(uid: str, salt: str = "") -> str:
    digest = hashlib.sha256(f"radstream-study|{salt}|{uid}".encode()).hexdigest()
    return f"dcm-{digest[:20]}"


def _iso_timestamp(ds) -> str | None:
    for dkey, tkey in (("StudyDate", "StudyTime"), ("SeriesDate", "SeriesTime"),
                       ("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
        d = element_str(ds, dkey)
        if not d or len(d) < 8 or not d[:8].isdigit():
            continue
        t = (element_str(ds, tkey) or "").replace(":", "")
        hh, mm, ss, frac = 0, 0, 0, 0
        try:
            main, _, fr = t.partition(".")
            if len(main) >= 2:
                hh = int(main[0:2])
            if len(main) >= 4:
                mm = int(main[2:4])
            if len(main) >= 6:
                ss = int(main[4:6])
            if fr:
                frac = int((fr + "000000")[:6])
            dt = datetime(int(d[0:4]), int(d[4:6]), int(d[6:8]), hh, mm, min(ss, 59), frac)
        except ValueError:
            continue
        tzs = element_str(ds, "TimezoneOffsetFromUTC")
        if tzs and len(tzs) == 5 and tzs[0] in "+-" and tzs[1:].isdigit():
            sign = 1 if tzs[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(tzs[1:3]), minutes=int(tzs[3:5])))
            dt = dt.replace(tzinfo=tz)
            return dt.isoformat(timespec="seconds")
        # DICOM dates/times are local time when no offset is recorded: state that honestly (no "Z").
        return dt.isoformat(timespec="seconds")
    return None


def metadata_from_dicom(data: bytes, *, salt: str = "") -> dict[str, Any]:
    """Derive a pipeline sidecar from a DICOM header (for uploads that come without one).

    Returns ``study_id`` (``dcm-`` + salted SHA-256 of StudyInstanceUID, never a raw patient or
    accession ID), ``view`` (ViewPosition), ``timestamp`` (ISO 8601 from StudyDate/StudyTime, with
    the UTC offset when the header records one), ``modality``, ``body_part`` and
    ``metadata_source: "dicom-header"``. Keys the header cannot supply are left out so that
    metadata validation reports them.
    """
    if not data:
        raise EmptyFileError("The file is empty (0 bytes). Upload the DICOM file again.")
    if sniff(data) != DICOM:
        raise UnsupportedFormatError("metadata_from_dicom needs a DICOM Part 10 file; this content is not DICOM.")
    with quiet():
        return _metadata_from_dataset(read_dataset(data, stop_before_pixels=True), salt)


def _metadata_from_dataset(ds, salt: str) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata_source": "dicom-header"}
    uid = (element_str(ds, "StudyInstanceUID") or element_str(ds, "SeriesInstanceUID")
           or element_str(ds, "SOPInstanceUID"))
    if uid:
        out["study_id"] = study_id_from_uid(uid, salt)
    view = element_str(ds, "ViewPosition")
    if view:
        out["view"] = view.upper()
    ts = _iso_timestamp(ds)
    if ts:
        out["timestamp"] = ts
    mod = element_str(ds, "Modality")
    if mod:
        out["modality"] = mod.upper()
    bp = element_str(ds, "BodyPartExamined")
    if bp:
        out["body_part"] = bp.upper()
    return out
