"""Asynchronous Lambda invocations as AWS runs them: S3 notifications and ``InvocationType=Event``.

moto invokes S3 -> Lambda synchronously inside the upload's own request and swallows any error: a
crashed upload trigger left nothing behind. Here the event is queued and the S3 request returns at
once; the function runs in the background; a function error (an exception, a timeout, a crash) is
retried ``MaximumRetryAttempts`` times (default 2) after a delay (AWS waits about a minute, then two;
``retry_delays_s`` sets them, e.g. shorter in tests), as long as the event is younger than
``MaximumEventAgeInSeconds`` (default 6 hours). An event that still fails goes to the function's
on-failure destination (its EventInvokeConfig), as an invocation record in AWS's shape; without one it
is dropped, and the log says so.

Nothing here knows about moto: ``moto_patches.install_async_invocations`` supplies how to invoke a
function, read its configuration and deliver to a destination.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

logger = logging.getLogger(__name__)

AWS_RETRY_DELAYS_S = (60.0, 120.0)
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600


@dataclass(frozen=True)
class AsyncConfig:
    max_retries: int = DEFAULT_MAX_RETRIES
    max_age_s: float = DEFAULT_MAX_AGE_S
    on_failure: str | None = None       # destination ARN


@dataclass
class Outcome:
    """What one attempt returned: the payload and Lambda's function error (None: success)."""

    payload: bytes
    function_error: str | None
    executed_version: str = "$LATEST"


@dataclass(order=True)
class _Event:
    due: float
    seq: int
    function_arn: str = field(compare=False)
    payload: str = field(compare=False)
    request_id: str = field(compare=False)
    queued_at: float = field(compare=False)
    attempts: int = field(default=0, compare=False)


class AsyncInvoker:
    def __init__(self, invoke: Callable[[str, str], Outcome], config_of: Callable[[str], AsyncConfig],
                 deliver: Callable[[str, dict], None], *, retry_delays_s: tuple[float, ...] = AWS_RETRY_DELAYS_S,
                 workers: int = 8) -> None:
        self._invoke, self._config_of, self._deliver = invoke, config_of, deliver
        self.retry_delays_s = tuple(retry_delays_s)
        self._queue: list[_Event] = []
        self._seq = itertools.count()
        self._changed = threading.Condition()
        self._closed = False
        self._in_flight = 0
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"lambda-event-{i}")
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, function_arn: str, payload: str) -> str:
        """Queue one event (accepted at once, as Lambda answers 202); returns its request id."""
        event = _Event(time.monotonic(), next(self._seq), function_arn, payload, str(uuid.uuid4()), time.time())
        with self._changed:
            heapq.heappush(self._queue, event)
            self._changed.notify()
        return event.request_id

    def pending(self) -> int:
        """Events queued or running (retries included)."""
        with self._changed:
            return len(self._queue) + self._in_flight

    def shutdown(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._closed and (not self._queue or self._queue[0].due > time.monotonic()):
                    self._changed.wait(timeout=(self._queue[0].due - time.monotonic()) if self._queue else None)
                if self._closed:
                    return
                event = heapq.heappop(self._queue)
                self._in_flight += 1
            try:
                self._attempt(event)
            except Exception:  # never lose the worker thread
                logger.exception("async invocation of %s failed unexpectedly", event.function_arn)
            finally:
                with self._changed:
                    self._in_flight -= 1

    def _attempt(self, event: _Event) -> None:
        event.attempts += 1
        try:
            outcome = self._invoke(event.function_arn, event.payload)
        except Exception as exc:  # the function is gone, or the runtime failed to start it
            outcome = Outcome(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode(),
                              "Unhandled")
        if outcome.function_error is None:
            return
        config = self._config_of(event.function_arn)
        age = time.time() - event.queued_at
        if event.attempts <= config.max_retries:
            delay = self.retry_delays_s[min(event.attempts - 1, len(self.retry_delays_s) - 1)]
            if age + delay < config.max_age_s:
                logger.warning("async invocation %s of %s failed (attempt %d); retrying in %.0f s",
                               event.request_id, event.function_arn, event.attempts, delay)
                event.due = time.monotonic() + delay
                with self._changed:
                    heapq.heappush(self._queue, event)
                    self._changed.notify()
                return
        condition = "RetriesExhausted" if event.attempts > config.max_retries else "EventAgeExceeded"
        record = invocation_record(event, outcome, condition)
        if config.on_failure is None:
            logger.error("async invocation %s of %s failed %d times and has no on-failure destination: the event "
                         "is dropped (as on AWS)", event.request_id, event.function_arn, event.attempts)
            return
        try:
            self._deliver(config.on_failure, record)
            logger.error("async invocation %s of %s failed %d times; sent to %s", event.request_id,
                         event.function_arn, event.attempts, config.on_failure)
        except Exception:
            logger.exception("could not deliver the failed event %s to %s", event.request_id, config.on_failure)


def invocation_record(event: _Event, outcome: Outcome, condition: str) -> dict[str, Any]:
    """The document Lambda sends to an on-failure destination."""
    try:
        request_payload: Any = json.loads(event.payload)
    except ValueError:
        request_payload = event.payload
    try:
        response_payload: Any = json.loads(outcome.payload or b"null")
    except ValueError:
        response_payload = outcome.payload.decode("utf-8", "replace")
    return {
        "version": "1.0",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {"requestId": event.request_id, "functionArn": f"{event.function_arn}:$LATEST",
                           "condition": condition, "approximateInvokeCount": event.attempts},
        "requestPayload": request_payload,
        "responseContext": {"statusCode": 200, "executedVersion": outcome.executed_version,
                            "functionError": outcome.function_error},
        "responsePayload": response_payload,
    }
