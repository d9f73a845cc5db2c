"""Chest policy: is this a chest radiograph, and does its sidecar agree with the image?

Format-agnostic: the checks read the modality/body part/view/size facts that the DICOM header
(:func:`.dicom_decode.dicom_facts`) or the JPEG/PNG header provides, and the sidecar's fields.
A study that is not a chest radiograph fails with ``NotChestImageError`` before it reaches the
model; a sidecar that contradicts its image fails with ``MetadataMismatchError`` listing every
contradiction.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import MetadataMismatchError, NotChestImageError

CHEST_MODALITIES = {"CR", "DX"}
# Values a sidecar may use for "a projection radiograph" without naming CR or DX.
GENERIC_XRAY = {"XR", "X-RAY", "XRAY", "RADIOGRAPH", "RADIOGRAPHY", "RG"}
CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS", "CHEST_PA", "CHEST PA", "CHEST_AP", "CHEST AP",
                    "PORTABLE CHEST", "CXR", "HEART"}
MODALITY_NAMES = {
    "CT": "computed tomography", "MR": "magnetic resonance", "US": "ultrasound", "NM": "nuclear medicine",
    "PT": "PET", "MG": "mammography", "XA": "X-ray angiography", "RF": "fluoroscopy", "OT": "other",
    "SC": "secondary capture", "IO": "intra-oral X-ray", "PX": "panoramic X-ray", "OP": "ophthalmic photo",
    "ES": "endoscopy", "XC": "external camera photo", "SR": "structured report", "SM": "slide microscopy",
}


def _norm(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip().upper()
    return s or None


def check_chest(modality: str | None, body_part: str | None, *, where: str) -> None:
    m = _norm(modality)
    if m and m not in CHEST_MODALITIES and m not in GENERIC_XRAY:
        name = MODALITY_NAMES.get(m, "not a projection radiograph")
        raise NotChestImageError(
            f"The {where} says modality {m} ({name}); the model reads chest radiographs (CR or DX). "
            "Route this study to a pipeline for its modality."
        )
    b = _norm(body_part)
    if b and b not in CHEST_BODY_PARTS and not any(w in b for w in ("CHEST", "THORAX", "LUNG")):
        raise NotChestImageError(
            f"The {where} says body part {b}, not CHEST; the model reads chest radiographs only. "
            "It was not sent to the model."
        )


_VIEW_GROUPS = {
    "PA": {"PA", "POSTERO_ANTERIOR", "POSTEROANTERIOR"},
    "AP": {"AP", "ANTERO_POSTERIOR", "ANTEROPOSTERIOR", "APS", "APV"},
    "LATERAL": {"LATERAL", "LAT", "LL", "RL", "LLD", "RLD", "L", "LATERAL_LEFT", "LATERAL_RIGHT"},
}


def views_compatible(sidecar_view: str, header_view: str) -> bool:
    a, b = sidecar_view.upper().replace("-", "_"), header_view.upper().replace("-", "_")
    if a == b:
        return True
    if a in ("LL", "RL") and b in ("LL", "RL"):
        return False  # left vs right lateral is a real contradiction
    for group in _VIEW_GROUPS.values():
        if a in group and b in group:
            return True
    return False


def _sidecar(metadata: Mapping[str, Any] | None, *names: str) -> Any:
    if not metadata:
        return None
    for n in names:
        if n in metadata and metadata[n] not in (None, ""):
            return metadata[n]
    return None


def sidecar_body_part(metadata):
    return _sidecar(metadata, "body_part", "bodyPart", "BodyPartExamined", "body_part_examined")


def sidecar_modality(metadata):
    return _sidecar(metadata, "modality", "Modality")


def check_metadata_matches(metadata: Mapping[str, Any] | None, facts: Mapping[str, Any]) -> None:
    """Raise MetadataMismatchError listing every contradiction between sidecar and image header."""
    if not metadata:
        return
    problems: list[str] = []
    view = _sidecar(metadata, "view", "view_position", "ViewPosition")
    hview = facts.get("view_position")
    if view and hview and not views_compatible(str(view), str(hview)):
        problems.append(f"view {str(view).upper()} in the sidecar but {str(hview).upper()} in the image header")
    mod, hmod = _norm(sidecar_modality(metadata)), _norm(facts.get("modality"))
    if mod and hmod and mod != hmod and not (mod in GENERIC_XRAY and hmod in CHEST_MODALITIES):
        problems.append(f"modality {mod} in the sidecar but {hmod} in the image header")
    bp, hbp = _norm(sidecar_body_part(metadata)), _norm(facts.get("body_part"))
    if bp and hbp and bp != hbp:
        def chesty(x):
            return x in CHEST_BODY_PARTS or any(w in x for w in ("CHEST", "THORAX", "LUNG"))
        if not (chesty(bp) and chesty(hbp)):
            problems.append(f"body part {bp} in the sidecar but {hbp} in the image header")
    for key, fkey in (("width", "width"), ("columns", "width"), ("height", "height"), ("rows", "height")):
        val = _sidecar(metadata, key)
        if val is not None and facts.get(fkey) is not None:
            try:
                ok = int(val) == int(facts[fkey])
            except (TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(f"{key} {val} in the sidecar but {facts[fkey]} in the image")
    if problems:
        raise MetadataMismatchError(
            "The sidecar metadata contradicts the image: " + "; ".join(problems)
            + ". Fix the sidecar (or omit the field to use the image's own value)."
        )
