"""Kinesis producer for telemetry records (the seed's kinesis_producer).

* Batches ``PutRecords`` calls within the Kinesis limits: at most 500 records and 5 MiB per call,
  1 MiB per record (data + partition key).
* Partition key = ``study_id`` (so one study's records stay ordered within a shard).
* Retries only the records a call reports as failed (``FailedRecordCount`` / per-record
  ``ErrorCode``), and whole calls that raise, with exponential backoff and full jitter.
* A bounded buffer: ``put`` flushes synchronously when the buffer is full (back-pressure, never
  dropping), and ``close()`` -- also called on context exit and at interpreter exit -- flushes the rest.
* Nothing is dropped silently: what cannot be sent after the retries is returned in
  :class:`SendResult.failed`, counted in :attr:`TelemetryProducer.failed_total`, logged at ERROR level,
  and raised as :class:`TelemetryDeliveryError` when ``raise_on_failure=True``.
"""

from __future__ import annotations

import atexit
import json
import logging
import random
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .errors import TelemetryDeliveryError, TelemetryRecordTooLargeError
from .events import encode

log = logging.getLogger("radstream.deployed.telemetry")

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024
MAX_PARTITION_KEY_LEN = 256

#: Errors that another attempt cannot fix (missing stream, permissions, bad request, KMS setup):
#: the records are reported as failed at once instead of after the whole backoff schedule.
NON_RETRYABLE = frozenset({
    "ResourceNotFoundException", "AccessDeniedException", "ValidationException", "InvalidArgumentException",
    "UnrecognizedClientException", "InvalidSignatureException", "NoCredentialsError", "ParamValidationError",
    "KMSAccessDeniedException", "KMSDisabledException", "KMSNotFoundException", "KMSInvalidStateException",
    "KMSOptInRequired",
})


@dataclass
class FailedRecord:
    record: Any
    partition_key: str
    error_code: str
    error_message: str = ""


@dataclass
class SendResult:
    sent: int = 0
    failed: list[FailedRecord] = field(default_factory=list)
    calls: int = 0
    retries: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def merge(self, other: "SendResult") -> "SendResult":
        self.sent += other.sent
        self.failed.extend(other.failed)
        self.calls += other.calls
        self.retries += other.retries
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": len(self.failed), "calls": self.calls, "retries": self.retries,
                "error_codes": sorted({f.error_code for f in self.failed})}


@dataclass
class _Entry:
    record: Any
    data: bytes
    key: str

    @property
    def size(self) -> int:
        return len(self.data) + len(self.key.encode("utf-8"))


def _partition_key(record: Any) -> str:
    key = None
    if isinstance(record, Mapping):
        key = record.get("study_id")
    key = str(key) if key not in (None, "") else "unknown"
    return key[:MAX_PARTITION_KEY_LEN]


def _encode(record: Any) -> bytes:
    if isinstance(record, bytes):
        return record
    if isinstance(record, str):
        return record.encode("utf-8")
    if isinstance(record, Mapping):
        return encode(record)
    return (json.dumps(record) + "\n").encode("utf-8")


def batches(entries: list[_Entry], max_records: int = MAX_RECORDS_PER_CALL,
            max_bytes: int = MAX_BYTES_PER_CALL) -> Iterable[list[_Entry]]:
    """Split entries into consecutive PutRecords batches within the count and byte limits."""
    batch: list[_Entry] = []
    size = 0
    for e in entries:
        if batch and (len(batch) >= max_records or size + e.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(e)
        size += e.size
    if batch:
        yield batch


class TelemetryProducer:
    """Buffered, batching, retrying Kinesis producer.

    ``kinesis_client`` is a boto3 Kinesis client (or anything with ``put_records``).
    Thread-safe: ``put`` and ``flush`` may be called from several threads.
    """

    def __init__(self, kinesis_client: Any, stream_name: str, *, max_buffer_records: int = 5000,
                 max_attempts: int = 6, base_delay_s: float = 0.05, max_delay_s: float = 2.0,
                 raise_on_failure: bool = False, flush_at_exit: bool = True,
                 sleep: Callable[[float], None] = time.sleep, rand: Callable[[], float] = random.random):
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.client = kinesis_client
        self.stream_name = stream_name
        self.max_buffer_records = max(1, int(max_buffer_records))
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.raise_on_failure = raise_on_failure
        self._sleep = sleep
        self._rand = rand
        self._buffer: list[_Entry] = []
        self._lock = threading.RLock()
        self._closed = False
        self.sent_total = 0
        self.failed_total = 0
        self.failed: list[FailedRecord] = []  # everything that was ever given up on (bounded below)
        if flush_at_exit:
            ref = weakref.ref(self)
            atexit.register(lambda: (p := ref()) is not None and p._close_at_exit())

    # -- buffering -------------------------------------------------------------------------
    def _entry(self, record: Any, partition_key: str | None) -> _Entry:
        e = _Entry(record, _encode(record), (partition_key or _partition_key(record))[:MAX_PARTITION_KEY_LEN])
        if e.size > MAX_BYTES_PER_RECORD:
            raise TelemetryRecordTooLargeError(
                f"telemetry record of {e.size} bytes exceeds the Kinesis 1 MiB record limit; "
                "emit smaller records (e.g. drop large free-text fields)")
        return e

    def put(self, record: Any, partition_key: str | None = None) -> SendResult | None:
        """Buffer one record; flushes (synchronously) when the buffer is full and returns that result."""
        e = self._entry(record, partition_key)
        with self._lock:
            if self._closed:
                raise RuntimeError("TelemetryProducer is closed")
            self._buffer.append(e)
            if len(self._buffer) >= self.max_buffer_records:
                return self.flush()
        return None

    def put_many(self, records: Iterable[Any]) -> SendResult:
        result = SendResult()
        for r in records:
            res = self.put(r)
            if res is not None:
                result.merge(res)
        return result

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def flush(self) -> SendResult:
        """Send everything buffered; returns what was sent and what failed after retries."""
        with self._lock:
            entries, self._buffer = self._buffer, []
            return self._send_entries(entries)

    def send(self, records: Iterable[Any]) -> SendResult:
        """Send ``records`` now (bypassing the buffer) -- what a Lambda handler wants."""
        entries = [self._entry(r, None) for r in records]
        with self._lock:
            return self._send_entries(entries)

    def close(self) -> SendResult:
        with self._lock:
            res = self.flush()
            self._closed = True
            return res

    def _close_at_exit(self) -> None:
        if not self._closed and self._buffer:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - at exit, report and carry on
                log.exception("telemetry: flushing the buffer at exit failed")

    def __enter__(self) -> "TelemetryProducer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        cap = min(self.max_delay_s, self.base_delay_s * (2 ** attempt))
        return cap * self._rand()

    def _send_entries(self, entries: list[_Entry]) -> SendResult:
        result = SendResult()
        for batch in batches(entries):
            result.merge(self._send_batch(batch))
        self.sent_total += result.sent
        if result.failed:
            self.failed_total += len(result.failed)
            if len(self.failed) < 10000:
                self.failed.extend(result.failed[: 10000 - len(self.failed)])
            log.error("telemetry: %d record(s) to stream %s not delivered after %d attempts: %s",
                      len(result.failed), self.stream_name, self.max_attempts,
                      sorted({f.error_code for f in result.failed}))
            if self.raise_on_failure:
                raise TelemetryDeliveryError(result)
        return result

    def _send_batch(self, batch: list[_Entry]) -> SendResult:
        result = SendResult()
        pending = batch
        last_errors: dict[int, tuple[str, str]] = {}
        for attempt in range(self.max_attempts):
            if attempt:
                result.retries += 1
                self._sleep(self._backoff(attempt - 1))
            result.calls += 1
            try:
                resp = self.client.put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": e.data, "PartitionKey": e.key} for e in pending])
            except Exception as exc:  # noqa: BLE001 - whole-call failure: retry the whole batch
                code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
                last_errors = {i: (code, str(exc)[:300]) for i in range(len(pending))}
                log.warning("telemetry: PutRecords call failed (%s), attempt %d/%d",
                            code, attempt + 1, self.max_attempts)
                if code in NON_RETRYABLE:
                    break
                continue
            results = resp.get("Records") or []
            if not resp.get("FailedRecordCount") and len(results) == len(pending):
                result.sent += len(pending)
                return result
            retry: list[_Entry] = []
            errors: dict[int, tuple[str, str]] = {}
            for i, e in enumerate(pending):
                r = results[i] if i < len(results) else {"ErrorCode": "MissingResult"}
                if r.get("ErrorCode"):
                    errors[len(retry)] = (r["ErrorCode"], r.get("ErrorMessage", ""))
                    retry.append(e)
                else:
                    result.sent += 1
            pending, last_errors = retry, errors
            if not pending:
                return result
            if all(code in NON_RETRYABLE for code, _ in errors.values()):
                break
        for i, e in enumerate(pending):
            code, msg = last_errors.get(i, ("Unknown", ""))
            result.failed.append(FailedRecord(e.record, e.key, code, msg))
        return result
