"""Study ids: the one place that decides whether a string may name a study.

A study id becomes part of S3 keys (``incoming/{id}/``, ``results/{id}/``...), of the execution name
and of every record, so it is held to a small character set: 1-64 letters, digits, ``-`` or ``_``,
starting with a letter or digit. No ``/``, ``.``, spaces or anything a path, a URL or a shell could
read differently. Everything that takes a study id from outside (the client before it uploads, the
upload trigger from an S3 key, sidecar validation, the records) asks here.

Names RadStream makes up for things that are *not* studies (a rejected upload key, a record of an
unknown study) start with ``_``, which no study id can, so they never land on a study's records.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

MAX_LENGTH = 64
PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,%d}" % (MAX_LENGTH - 1))
RULE = f"1-{MAX_LENGTH} characters of letters, digits, '-' or '_', starting with a letter or digit"
NOT_A_STUDY_PREFIX = "_"


def study_id_problem(value: Any) -> str | None:
    """What is wrong with ``value`` as a study id (one sentence naming it), or None when it is safe."""
    if not isinstance(value, str):
        return f"a study id must be a string, got {type(value).__name__}"
    if not value:
        return "the study id is empty"
    if len(value) > MAX_LENGTH:
        return f"the study id is {len(value)} characters long; at most {MAX_LENGTH} are allowed"
    if not PATTERN.fullmatch(value):
        bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "-_"))})
        detail = f" (it contains {', '.join(repr(c) for c in bad[:5])})" if bad else ""
        return f"the study id {_shown(value)} is not {RULE}{detail}"
    return None


def is_safe_study_id(value: Any) -> bool:
    return study_id_problem(value) is None


def not_a_study_name(kind: str, basis: str) -> str:
    """A safe, stable record name for something that is not a valid study (``_<kind>-<hash>``):
    distinct from every study id, the same for the same ``basis`` (so retries land on one record)."""
    digest = hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return f"{NOT_A_STUDY_PREFIX}{kind}-{digest}"


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")
