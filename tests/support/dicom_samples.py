"""Real DICOM files from pydicom-data, and RG1_UNCR.dcm with known identifiers planted in it.

The fixtures ``rg1_bytes`` and ``rg1_planted`` (tests/conftest.py) wrap these for every tier.
"""

from __future__ import annotations

import io

from radstream.tooling.samples import sample_dicom_path


def read_sample(name: str) -> bytes:
    with open(sample_dicom_path(name), "rb") as fh:
        return fh.read()


PLANTED = {
    "PatientName": "Zyxwvut^Quentin^Planted",
    "PatientID": "PLANTED-PID-8675309",
    "PatientBirthDate": "19420613",
    "PatientAddress": "42 Plantedstrasse, Vaduz",
    "PatientTelephoneNumbers": "+423-555-0199",
    "OtherPatientIDs": "PLANTED-OTHER-ID-777",
    "AccessionNumber": "PLANTEDACC9931",
    "InstitutionName": "Saint Planted Infirmary",
    "InstitutionAddress": "1 Infirmary Road, Plantedville",
    "ReferringPhysicianName": "Referrer^Plantedrick",
    "PerformingPhysicianName": "Performer^Plantedia",
    "OperatorsName": "Operator^Plantedson",
    "StationName": "PLANTEDSTATION01",
    "StudyID": "PLSTUDY42",
    "PatientMotherBirthName": "Mothername^Planted",
}


def planted_rg1(rg1_bytes: bytes) -> tuple[bytes, dict[str, str]]:
    """RG1_UNCR.dcm with known identifiers planted (plus a nested sequence and a private tag)."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(io.BytesIO(rg1_bytes))
    for k, v in PLANTED.items():
        setattr(ds, k, v)
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    item.ReferencedSOPInstanceUID = "1.2.3.4.5.6.7.8.9.424242"
    ds.ReferencedPerformedProcedureStepSequence = Sequence([item])
    req = Dataset()
    req.RequestedProcedureID = "PLANTEDREQ5150"
    req.ScheduledPerformingPhysicianName = "Scheduled^Plantedowski"
    ds.RequestAttributesSequence = Sequence([req])
    block = ds.private_block(0x0029, "PLANTED CREATOR", create=True)
    block.add_new(0x01, "LO", "PLANTED-PRIVATE-SECRET")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    identifiers = dict(PLANTED)
    identifiers["RequestedProcedureID"] = "PLANTEDREQ5150"
    identifiers["ScheduledPerformingPhysicianName"] = "Scheduled^Plantedowski"
    identifiers["Private"] = "PLANTED-PRIVATE-SECRET"
    identifiers["StudyInstanceUID"] = str(ds.StudyInstanceUID)
    identifiers["SeriesInstanceUID"] = str(ds.SeriesInstanceUID)
    identifiers["SOPInstanceUID"] = str(ds.SOPInstanceUID)
    identifiers["RefSOPInstanceUID"] = "1.2.3.4.5.6.7.8.9.424242"
    return buf.getvalue(), identifiers
