"""Dynamic batcher, in process: batches form, results go back to the right request."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from radstream_model_server.batcher import DynamicBatcher
from radstream_model_server.metrics import Metrics
from radstream_model_server.model import OnnxModel


@pytest.fixture(scope="module")
def model():
    return OnnxModel()


def _hist(metrics: Metrics, name: str, model: str):
    count = metrics.registry.get_sample_value(f"{name}_count", {"model": model})
    total = metrics.registry.get_sample_value(f"{name}_sum", {"model": model})
    return count, total


def _run(model, metrics, max_batch_size, delay_ms, inputs):
    async def go():
        b = DynamicBatcher(model, max_batch_size=max_batch_size, max_queue_delay_ms=delay_ms, metrics=metrics)
        await b.start()
        try:
            return await asyncio.gather(*(b.infer({"input": x}) for x in inputs))
        finally:
            await b.stop()

    return asyncio.run(go())


def test_concurrent_requests_share_one_model_call(model):
    metrics = Metrics()
    xs = [np.random.default_rng(i).random((1, 1, 224, 224), dtype=np.float32) for i in range(4)]
    # The batch fills to max_batch_size long before the (huge) delay: exactly one model call.
    outs = _run(model, metrics, 4, 10_000, xs)
    assert _hist(metrics, "radstream_model_batch_size", model.name) == (1, 4)
    for x, out in zip(xs, outs):
        np.testing.assert_allclose(out["scores"], model.run({"input": x})["scores"], rtol=1e-5, atol=1e-6)


def test_batches_split_at_max_batch_size(model):
    metrics = Metrics()
    xs = [np.full((2, 1, 224, 224), i / 10, np.float32) for i in range(3)]  # 6 rows, max 4
    outs = _run(model, metrics, 4, 50, xs)
    count, total = _hist(metrics, "radstream_model_batch_size", model.name)
    assert total == 6 and count == 2
    for x, out in zip(xs, outs):
        assert out["scores"].shape == (2, 14)
        np.testing.assert_allclose(out["scores"], model.run({"input": x})["scores"], rtol=1e-5, atol=1e-6)


def test_batching_off_runs_each_request_alone(model):
    metrics = Metrics()
    xs = [np.zeros((1, 1, 224, 224), np.float32)] * 5
    _run(model, metrics, 1, 5, xs)
    assert _hist(metrics, "radstream_model_batch_size", model.name) == (5, 5)


def test_oversized_request_runs_alone(model):
    metrics = Metrics()
    (out,) = _run(model, metrics, 2, 1, [np.zeros((3, 1, 224, 224), np.float32)])
    assert out["scores"].shape == (3, 14)
    assert _hist(metrics, "radstream_model_batch_size", model.name) == (1, 3)


class _BarrierModel:
    """Each model call waits until `parties` calls run at the same time (or times out)."""

    name = "barrier"
    batchable = True

    def __init__(self, parties):
        import threading

        self.barrier = threading.Barrier(parties, timeout=10)

    def batch_size_of(self, inputs):
        return next(iter(inputs.values())).shape[0]

    def run(self, inputs):
        self.barrier.wait()  # BrokenBarrierError if the calls are not concurrent
        return {"y": inputs["x"] * 2}


@pytest.mark.parametrize("max_batch_size", [1, 2])
def test_instances_run_model_calls_concurrently(max_batch_size):
    m = _BarrierModel(2)

    async def go():
        b = DynamicBatcher(m, max_batch_size=max_batch_size, max_queue_delay_ms=0, instances=2)
        await b.start()
        try:
            xs = [np.full((1, 2), i, np.float32) for i in range(4)]
            outs = await asyncio.gather(*(b.infer({"x": x}) for x in xs))
            for x, out in zip(xs, outs):
                np.testing.assert_array_equal(out["y"], x * 2)
        finally:
            await b.stop()

    asyncio.run(go())


class _GateModel:
    """run() blocks until the test opens the gate."""

    name = "gate"
    batchable = True

    def __init__(self):
        import threading

        self.gate = threading.Event()
        self.started = threading.Event()

    def batch_size_of(self, inputs):
        return next(iter(inputs.values())).shape[0]

    def run(self, inputs):
        self.started.set()
        assert self.gate.wait(10)
        return {"y": inputs["x"]}


@pytest.mark.parametrize("max_batch_size", [1, 4])
def test_queue_limit_rejects_when_full(max_batch_size):
    from radstream_model_server.errors import QueueFullError

    m = _GateModel()

    async def go():
        b = DynamicBatcher(m, max_batch_size=max_batch_size, max_queue_delay_ms=0, max_queue_size=1)
        await b.start()
        try:
            x = np.zeros((1, 1), np.float32)
            first = asyncio.ensure_future(b.infer({"x": x}))
            while not m.started.is_set():  # the first request is running (not waiting)
                await asyncio.sleep(0.01)
            second = asyncio.ensure_future(b.infer({"x": x}))
            await asyncio.sleep(0.05)
            assert b.queued == 1
            with pytest.raises(QueueFullError, match="max_queue_size 1"):
                await b.infer({"x": x})
            m.gate.set()
            await asyncio.gather(first, second)
            assert b.queued == 0
        finally:
            m.gate.set()
            await b.stop()

    asyncio.run(go())
