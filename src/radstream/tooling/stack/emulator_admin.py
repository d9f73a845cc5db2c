"""Client of the emulator's admin API (``/_radstream/*``): how tooling reaches the emulator.

Tooling never imports the emulator; it starts it as a process (the stack manager) and talks to
it over HTTP like any other client. The routes are served by ``radstream.emulator.server``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

log = logging.getLogger(__name__)

HEALTH_PATH = "/_radstream/health"
FLUSH_PATH = "/_radstream/flush"


def _call(url: str, *, post: bool, timeout: float) -> dict | None:
    request = urllib.request.Request(url, data=b"{}" if post else None, method="POST" if post else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.debug("emulator admin call %s failed: %s", url, exc)
        return None


def health(endpoint_url: str, timeout: float = 2.0) -> dict | None:
    """The emulator's health document, or None when nothing answers."""
    return _call(endpoint_url.rstrip("/") + HEALTH_PATH, post=False, timeout=timeout)


def flush_telemetry(endpoint_url: str, timeout: float = 30.0) -> dict | None:
    """Deliver buffered Firehose records now (per-delivery-stream counters), or None when no
    emulator answers (LocalStack and AWS have no such route)."""
    return _call(endpoint_url.rstrip("/") + FLUSH_PATH, post=True, timeout=timeout)
