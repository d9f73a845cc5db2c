"""Dynamic batching, in the manner of Triton's dynamic batcher.

Concurrent requests wait in a queue; the batcher takes the oldest one and waits at most
``max_queue_delay_ms`` (counted from that request's arrival) for more, until the batch holds
``max_batch_size`` items; then it concatenates the inputs along the first (batch) dimension,
runs the model once, and splits the outputs back per request. Requests whose non-batch
dimensions or datatypes differ never share a batch. A request larger than
``max_batch_size`` runs alone. With ``max_batch_size <= 1`` (or a model whose first
dimension is fixed) every request is its own model call: batching is off.

The model runs on ``instances`` worker threads (Triton's instance count; default 1), so the
event loop keeps accepting and parsing requests while the model computes. A batch is formed
only when an instance is free, so requests that arrive while all instances are busy join the
next batch.
"""

from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelExecutionError, QueueFullError
from .metrics import Metrics
from .model import OnnxModel


@dataclass
class _Item:
    inputs: dict[str, np.ndarray]
    size: int
    key: tuple
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


class DynamicBatcher:
    def __init__(self, model: OnnxModel, *, max_batch_size: int = 8, max_queue_delay_ms: float = 5.0,
                 metrics: Metrics | None = None, instances: int = 1, max_queue_size: int = 0):
        self.model = model
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_queue_delay_s = max(0.0, float(max_queue_delay_ms)) / 1000.0
        self.enabled = self.max_batch_size > 1 and model.batchable
        self.metrics = metrics
        self.instances = max(1, int(instances))
        self.max_queue_size = max(0, int(max_queue_size))  # 0 = unbounded
        self._waiting = 0  # requests accepted but not yet running (unbatched path)
        self._executor = ThreadPoolExecutor(max_workers=self.instances, thread_name_prefix="model")
        self._pending: collections.deque[_Item] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._slots: asyncio.Semaphore | None = None
        self._running: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(self.instances)
        if self.enabled:
            self._task = asyncio.create_task(self._loop(), name="dynamic-batcher")

    async def stop(self) -> None:
        for t in list(self._running):
            t.cancel()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for item in self._pending:
            if not item.future.done():
                item.future.set_exception(ModelExecutionError("server shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _observe(self, batch_size: int, queue_times: list[float]) -> None:
        if self.metrics:
            self.metrics.batch_size.labels(self.model.name).observe(batch_size)
            for q in queue_times:
                self.metrics.queue_seconds.labels(self.model.name).observe(q)

    async def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        try:
            return await loop.run_in_executor(self._executor, self.model.run, inputs)
        except Exception as exc:
            raise ModelExecutionError(f"model '{self.model.name}' failed: {exc}") from exc
        finally:
            if self.metrics:
                self.metrics.compute_seconds.labels(self.model.name).observe(time.perf_counter() - t0)

    @property
    def queued(self) -> int:
        """Requests waiting for a model instance."""
        return self._waiting + len(self._pending)

    async def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.max_queue_size and self.queued >= self.max_queue_size:
            raise QueueFullError(f"model '{self.model.name}' has {self.queued} requests waiting "
                                 f"(max_queue_size {self.max_queue_size}); retry later")
        size = self.model.batch_size_of(inputs)
        if not self.enabled:
            # One model call per request, in arrival order.
            t0 = time.perf_counter()
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
            try:
                self._observe(size, [time.perf_counter() - t0])
                return await self._run(inputs)
            finally:
                self._slots.release()
        key = tuple((n, a.dtype.str, a.shape[1:]) for n, a in sorted(inputs.items()))
        fut = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(inputs, size, key, fut))
        self._wakeup.set()
        return await fut

    def _ready_size(self, key: tuple) -> int:
        return sum(i.size for i in self._pending if i.key == key)

    async def _loop(self) -> None:
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._slots.acquire()  # form a batch only when an instance can run it
            try:
                batch, total = await self._form_batch()
            except BaseException:
                self._slots.release()
                raise
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._execute(batch, total))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _form_batch(self) -> tuple[list[_Item], int]:
        while not self._pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        first = self._pending[0]
        deadline = first.enqueued + self.max_queue_delay_s
        while self._ready_size(first.key) < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                break
        # Take compatible items, oldest first, up to max_batch_size (the first always goes).
        batch, total, keep = [], 0, collections.deque()
        while self._pending:
            item = self._pending.popleft()
            if item.future.done():  # client went away
                continue
            if item.key == first.key and (not batch or total + item.size <= self.max_batch_size):
                batch.append(item)
                total += item.size
            else:
                keep.append(item)
        self._pending.extendleft(reversed(keep))
        return batch, total

    async def _execute(self, batch: list[_Item], total: int) -> None:
        try:
            now = time.perf_counter()
            self._observe(total, [now - i.enqueued for i in batch])
            if len(batch) == 1:
                results = [await self._run(batch[0].inputs)]
            else:
                names = list(batch[0].inputs)
                merged = {n: np.concatenate([i.inputs[n] for i in batch], axis=0) for n in names}
                outs = await self._run(merged)
                bad = [n for n, a in outs.items() if a.ndim == 0 or a.shape[0] != total]
                if bad:
                    raise ModelExecutionError(
                        f"model '{self.model.name}' output(s) {bad} do not have the batch size {total} as "
                        "first dimension; run the server with --max-batch-size 1 for this model"
                    )
                results, off = [], 0
                for i in batch:
                    results.append({n: a[off:off + i.size] for n, a in outs.items()})
                    off += i.size
            for item, res in zip(batch, results):
                if not item.future.done():
                    item.future.set_result(res)
        except Exception as exc:  # deliver the failure to every waiting request
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc if isinstance(exc, ModelExecutionError)
                                              else ModelExecutionError(str(exc)))
        finally:
            self._slots.release()
