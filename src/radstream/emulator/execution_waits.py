"""Tell waiting clients when an execution ends, instead of having them poll DescribeExecution.

``moto_patches.install_execution_end_listener`` calls :meth:`ExecutionWaits.ended` when an execution
reaches a terminal status; the admin route ``GET /_radstream/executions/wait?arn=...&timeout=S``
blocks in :meth:`ExecutionWaits.wait` until then (or the timeout). A client measuring latency then
sees the end at once, not at its next poll.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


class ExecutionWaits:
    def __init__(self, status_of: Callable[[str], str | None]) -> None:
        self._status_of = status_of
        self._changed = threading.Condition()

    def ended(self, execution_arn: str) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait(self, execution_arn: str, timeout_s: float) -> str | None:
        """The execution's status once terminal, or its current status (None: no such execution)
        when ``timeout_s`` passes first."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._changed:
            while True:
                status = self._status_of(execution_arn)
                remaining = deadline - time.monotonic()
                if status in TERMINAL or remaining <= 0:
                    return status
                self._changed.wait(remaining)
