"""Processes the stack manager started, and only those: each is recorded with its identity (pid, the
kernel's start time of that pid, its command line) and signalled only while all three still match.

A pid alone is not an identity: after a process exits (a model server restarted by hand, a crash)
the kernel may give its number to an unrelated process, whose group ``radstream down`` would then
kill. The start time (``/proc/<pid>/stat`` field 22, in clock ticks since boot) changes when a pid is
reused, and the command line tells our services from anything else.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

STOPPED, GONE, NOT_OURS = "stopped", "gone", "not ours"


def identity(pid: int) -> dict[str, Any] | None:
    """``{"pid", "start_ticks", "cmdline"}`` of a running process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = [a.decode("utf-8", "replace") for a in cmdline.read().split(b"\0") if a]
    except OSError:
        return None
    if fields[0] == "Z":  # exited, not yet reaped: not running
        return None
    return {"pid": pid, "start_ticks": int(fields[19]), "cmdline": argv}


def is_same(record: Any) -> bool:
    """Is the recorded process still the one running under its pid?"""
    if isinstance(record, int):  # a state file from before identities were recorded: no way to tell
        return False
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return False
    now = identity(record["pid"])
    return now is not None and now["start_ticks"] == record.get("start_ticks") and now["cmdline"] == record.get("cmdline")


def pid_of(record: Any) -> int | None:
    if isinstance(record, int):
        return record
    return record.get("pid") if isinstance(record, dict) else None


def terminate(record: Any, grace_s: float = 5.0) -> str:
    """SIGTERM the recorded process's group, SIGKILL after ``grace_s``: ``stopped``; ``gone`` when it no
    longer runs; ``not ours`` when its pid now belongs to another process (nothing is signalled)."""
    pid = pid_of(record)
    if pid is None or identity(pid) is None:
        return GONE
    if not is_same(record):
        return NOT_OURS
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return GONE
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_same(record):
            return STOPPED
        time.sleep(0.1)
    if is_same(record):  # checked again: never SIGKILL a group whose leader is no longer ours
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return STOPPED
