"""DICOM de-identification: PS3.15 Annex E Basic Application Level Confidentiality Profile.

What RadStream stores
---------------------
The pipeline stores **derived data only**: the 224x224 float tensor (``preprocessed/{study_id}/
tensor.npy``), the model result and telemetry. None of them carries header attributes; the
``source`` facts returned by ``prepare_tensor`` are a fixed allow-list of technical values
(size, bit depth, photometric, modality, body part, view, transfer syntax) - no names, IDs,
dates or UIDs. The uploaded original stays where the user put it (``incoming/`` in the images
bucket, the PHI zone). ``deidentify_dicom`` exists so that a de-identified *copy* can be kept
(e.g. for audit or re-training) without PHI: it is what the pipeline would write if it kept
one, under ``deidentified/{study_id}/image.dcm``.

What ``deidentify_dicom`` does
------------------------------
* Every attribute the Basic Profile lists is removed (X), emptied (Z, kept because the IOD
  requires it) or replaced by a dummy value (D); sequences are cleaned recursively.
* Every UID (VR UI) that is not a well-known DICOM UID (SOP class, transfer syntax, coding
  schemes, all under ``1.2.840.10008.``) is replaced by ``2.25.<decimal of the first 128 bits
  of SHA-256(salt | uid)>``: the same input UID gives the same output UID (so a series stays a
  series across files) and the mapping cannot be reversed without the salt. File meta
  MediaStorageSOPInstanceUID follows SOPInstanceUID.
* The 128-byte preamble is zeroed (it can hold a TIFF header, as RG1_UNCR.dcm's does).
* Private attributes, overlays and curves are removed (the profile's default without the
  "Retain Safe Private" option).
* PatientIdentityRemoved = YES, DeidentificationMethod and DeidentificationMethodCodeSequence
  (DCM 113100, Basic Application Confidentiality Profile) are added.
* Pixel data is not touched: ``BurnedInAnnotation == "YES"`` cannot be cleaned by this profile,
  so ``deidentify_dicom`` refuses such files (the Clean Pixel Data option is not implemented).

Options not implemented: Retain Longitudinal Temporal Information (all dates/times are
removed or emptied), Retain Patient Characteristics, Retain Device Identity, Clean Descriptors
(descriptions are removed instead).
"""

from __future__ import annotations

import hashlib
import io

from .errors import BurnedInAnnotationError

# Action per keyword (PS3.15 Table E.1-1, basic profile column; where the table allows a choice,
# the strictest choice that still keeps the file valid is used: Z for Type 2 attributes of the
# Patient/Study/Series/Image modules, X otherwise).
_Z = {
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName",
    "StudyID", "StudyDate", "StudyTime", "ContentDate", "ContentTime", "PatientOrientation",
    "ContrastBolusAgent", "ReferencedStudySequence", "ReferencedImageSequence", "ReferencedPerformedProcedureStepSequence",
    "RequestedProcedureID", "ScheduledProcedureStepID", "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest", "VerifyingObserverName", "VerifyingObserverSequence",
    "PersonName", "ContentCreatorName", "ObserverType",
}
_X = {
    # patient
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
    "PatientAddress", "PatientTelephoneNumbers", "PatientTelecomInformation", "PatientAge", "PatientSize",
    "PatientWeight", "PatientBirthTime", "PatientInsurancePlanCodeSequence", "PatientPrimaryLanguageCodeSequence",
    "PatientReligiousPreference", "PatientComments", "PatientState", "PatientTransportArrangements",
    "PatientSexNeutered", "PatientSpeciesDescription", "PatientBreedDescription", "ResponsiblePerson",
    "ResponsibleOrganization", "MilitaryRank", "BranchOfService", "MedicalRecordLocator", "EthnicGroup",
    "Occupation", "AdditionalPatientHistory", "SmokingStatus", "PregnancyStatus", "LastMenstrualDate",
    "MedicalAlerts", "Allergies", "SpecialNeeds", "CountryOfResidence", "RegionOfResidence",
    "ReferencedPatientSequence", "ReferencedPatientAliasSequence", "PatientInstitutionResidence",
    "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence", "TypeOfPatientID", "PatientAlternativeCalendar",
    "PatientBirthDateInAlternativeCalendar", "PatientDeathDateInAlternativeCalendar", "CurrentPatientLocation",
    "AdmissionID", "IssuerOfAdmissionIDSequence", "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence",
    "AdmittingDate", "AdmittingTime", "DischargeDiagnosisDescription", "ServiceEpisodeID", "ServiceEpisodeDescription",
    "VisitComments", "InsurancePlanIdentification",
    # people and places
    "InstitutionName", "InstitutionAddress", "InstitutionCodeSequence", "InstitutionalDepartmentName",
    "InstitutionalDepartmentTypeCodeSequence", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence", "ConsultingPhysicianName", "ConsultingPhysicianIdentificationSequence",
    "PhysiciansOfRecord", "PhysiciansOfRecordIdentificationSequence", "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence", "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence", "OperatorsName", "OperatorIdentificationSequence",
    "RequestingPhysician", "RequestingService", "ScheduledPerformingPhysicianName", "ReviewerName",
    "PerformedStationName", "PerformedLocation", "ScheduledStationName", "ScheduledProcedureStepLocation",
    "StationName", "DeviceSerialNumber", "DetectorID", "DeviceUID", "PlateID", "CassetteID", "GantryID",
    "OrderEnteredBy", "OrderEntererLocation", "OrderCallbackPhoneNumber", "OrderCallbackTelecomInformation",
    "IssuerOfAccessionNumberSequence", "PerformedProcedureStepID", "RequestAttributesSequence",
    "ReferencedPatientPhotoSequence", "IntendedRecipientsOfResultsIdentificationSequence",
    "DistributionName", "DistributionAddress", "NamesOfIntendedRecipientsOfResults",
    "InterpretationRecorder", "InterpretationTranscriber", "InterpretationAuthor", "InterpretationApproverSequence",
    "PhysicianApprovingInterpretation", "HumanPerformerName", "HumanPerformerOrganization",
    "ActualHumanPerformersSequence", "DigitalSignaturesSequence", "OriginalAttributesSequence",
    "ModifiedAttributesSequence", "DataSetTrailingPadding", "AcquisitionComments", "ImageComments",
    "FrameComments", "StudyComments", "InterpretationText", "Impressions", "ResultsComments",
    "TextComments", "TextString", "AdditionalPatientHistory", "ReasonForTheRequestedProcedure",
    "ReasonForStudy", "RequestedProcedureComments", "ImagingServiceRequestComments",
    "PerformedProcedureStepDescription", "ScheduledProcedureStepDescription", "RequestedProcedureDescription",
    "StudyDescription", "SeriesDescription", "ProtocolName", "DerivationDescription", "CommentsOnThePerformedProcedureStep",
    "ContentSequence", "AcquisitionDeviceProcessingDescription", "DischargeDate", "DischargeTime",
    # dates and times (the basic profile removes them; Z-listed ones above are emptied)
    "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "OverlayDate",
    "OverlayTime", "CurveDate", "CurveTime", "InstanceCreationDate", "InstanceCreationTime",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "PerformedProcedureStepEndDate",
    "PerformedProcedureStepEndTime", "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepEndDate", "ScheduledProcedureStepEndTime", "StudyVerifiedDate", "StudyVerifiedTime",
    "StudyReadDate", "StudyReadTime", "StudyArrivalDate", "StudyArrivalTime", "StudyCompletionDate",
    "StudyCompletionTime", "DateOfLastCalibration", "TimeOfLastCalibration", "DateOfSecondaryCapture",
    "TimeOfSecondaryCapture", "TimezoneOffsetFromUTC", "IssueDateOfImagingServiceRequest",
    "IssueTimeOfImagingServiceRequest", "RequestedContrastAgent", "LastMenstrualDate", "DateTime",
    "Date", "Time", "ReferencedDateTime", "ObservationDateTime", "VerificationDateTime",
    "InstanceCoercionDateTime", "ScheduledStudyStartDate", "ScheduledStudyStartTime",
    "ScheduledAdmissionDate", "ScheduledAdmissionTime", "ScheduledDischargeDate", "ScheduledDischargeTime",
    "PresentationCreationDate", "PresentationCreationTime", "ContributionDateTime",
    # device identity / software
    "StationAETitle", "DetectorDescription",
}
# UIDs that identify the *kind* of thing, not the patient's objects: never remapped.
_KEEP_UID_KEYWORDS = {
    "SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID",
    "ReferencedSOPClassUID", "AffectedSOPClassUID", "RequestedSOPClassUID", "CodingSchemeUID",
    "ContextGroupExtensionCreatorUID", "PrivateInformationCreatorUID", "ReferencedTransferSyntaxUIDInFile",
    "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID", "SOPClassesInStudy",
    "ReferencedSOPClassUIDInFile", "MappingResource", "RetrieveAETitle",
}
_DICOM_ROOT = "1.2.840.10008."


def remap_uid(uid: str, salt: str) -> str:
    """Deterministic, salted, one-way UID replacement under the 2.25 (UUID-derived) root (<= 44 chars)."""
    uid = str(uid).strip()
    if not uid or uid.startswith(_DICOM_ROOT):
        return uid
    digest = hashlib.sha256(f"radstream-uid|{salt}|{uid}".encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _clean(ds, salt: str) -> None:
    for elem in list(ds):
        tag = elem.tag
        if tag.is_private:
            del ds[tag]
            continue
        group = tag.group
        if 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and tag.element in (0x3000, 0x4000)):
            del ds[tag]  # curves; overlay data and comments
            continue
        kw = elem.keyword
        if kw in _X:
            del ds[tag]
            continue
        if kw in _Z:
            if elem.VR == "SQ":
                elem.value = []
            else:
                elem.value = ""
            continue
        if elem.VR == "SQ":
            for item in elem.value:
                _clean(item, salt)
            continue
        if elem.VR == "UI" and kw not in _KEEP_UID_KEYWORDS and elem.value:
            if elem.VM > 1:
                elem.value = [remap_uid(v, salt) for v in elem.value]
            else:
                elem.value = remap_uid(elem.value, salt)
            continue
        if elem.VR == "PN" and elem.value:
            elem.value = ""  # any other person name (e.g. a private-standard mix) is emptied


def deidentify_dicom(data: bytes, *, salt: str) -> bytes:
    """Return a de-identified copy of a DICOM Part 10 file (see module docstring).

    ``salt`` is a per-deployment secret: it makes UID remapping consistent within the deployment
    and irreversible without it. The pixel data is unchanged.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from . import dicom_decode
    from .errors import UnsupportedFormatError
    from .formats import DICOM, sniff

    if not salt:
        raise ValueError("deidentify_dicom needs a non-empty salt (a per-deployment secret)")
    if sniff(data) != DICOM:
        raise UnsupportedFormatError("deidentify_dicom needs a DICOM Part 10 file; this content is not DICOM.")
    with dicom_decode.quiet():  # pydicom warnings can quote element values: never let them reach a log
        ds = dicom_decode.read_dataset(data)
        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
            raise BurnedInAnnotationError(
                "The DICOM image has burned-in annotation (BurnedInAnnotation = YES); its pixels may show patient "
                "details that header de-identification cannot remove. Use a pixel-cleaning tool first."
            )
        _clean(ds, salt)
        fm = ds.file_meta
        if "SOPInstanceUID" in ds:
            fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        elif "MediaStorageSOPInstanceUID" in fm:
            fm.MediaStorageSOPInstanceUID = remap_uid(fm.MediaStorageSOPInstanceUID, salt)
        for kw in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle",
                   "SourcePresentationAddress", "SendingPresentationAddress", "ReceivingPresentationAddress"):
            if kw in fm:
                delattr(fm, kw)
        ds.preamble = b"\0" * 128  # a preamble may hold a TIFF/other header describing the file
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "RadStream: PS3.15 Basic Profile"  # LO: max 64 chars
        code = Dataset()
        code.CodeValue = "113100"
        code.CodingSchemeDesignator = "DCM"
        code.CodeMeaning = "Basic Application Confidentiality Profile"
        ds.DeidentificationMethodCodeSequence = Sequence([code])
        # Keep the (empty) type-2 patient/study attributes present so the file stays a valid IOD.
        for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                   "AccessionNumber", "ReferringPhysicianName", "StudyID"):
            if kw not in ds:
                setattr(ds, kw, "")
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
