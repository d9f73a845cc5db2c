"""``--since 2h`` / ``--since 2026-11-28T10:00Z`` and ``--stuck-after 20m``: what the commands accept."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``20m``, ``2h``, ``1d`` -> timedelta; ValueError naming the accepted forms."""
    match = _DURATION.fullmatch((text or "").strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration: use a number and s, m, h or d (e.g. 20m, 2h)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """A duration back from now (``2h``) or an ISO 8601 time (UTC unless it says otherwise)."""
    if text is None:
        return None
    now = now or datetime.now(timezone.utc)
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: give a duration back from now (30m, 2h, 1d) or an ISO 8601 time "
                         f"(2026-11-28T10:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def as_datetime(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
