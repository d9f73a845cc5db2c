"""The compute floor: what the same images cost in compute alone, with no orchestration at all.

The benchmark's images go through exactly the deployed code's preprocessing (``prepare_tensor``) and
inference (``infer`` against the same model server) in a tight loop: as many worker processes as
the pipeline had studies in flight, on the same machine, in the same run, right after the pipeline
level. No S3, no Step Functions, no Lambda runtime, no telemetry. The pipeline's throughput as a
fraction of this floor's is what orchestration leaves of the machine.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from radstream.tooling.bench.stats import latency_summary


def _one(args: tuple[bytes, str, dict | None, str, str]) -> tuple[float, float]:
    """Preprocess and infer one image in a worker; (preprocess ms, inference ms)."""
    from radstream.deployed.imaging import prepare_tensor
    from radstream.deployed.inference import infer

    data, filename, metadata, endpoint, model_name = args
    t0 = time.perf_counter()
    prepared = prepare_tensor(data, filename=filename, metadata=metadata)
    t1 = time.perf_counter()
    infer(prepared.tensor, endpoint=endpoint, model_name=model_name)
    return (t1 - t0) * 1000, (time.perf_counter() - t1) * 1000


def compute_floor(studies, model_endpoint: str, model_name: str, workers: int) -> dict:
    """Images per minute through preprocessing + inference alone, ``workers`` at a time.

    Only studies that can succeed count (the pipeline's failures never reach the model); worker start-up
    and the model server's first request are excluded by one unmeasured image per worker first.
    """
    jobs = [(s.image, s.filename, s.metadata, model_endpoint, model_name) for s in studies]
    workers = max(1, workers)
    # spawn: the benchmark process has client threads running; a fork could copy a held lock.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            list(pool.map(_one, jobs[:1] * workers))
        except Exception as exc:  # noqa: BLE001 - the floor is optional: say why it is missing
            return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
        good, failed = [], 0
        started = time.perf_counter()
        futures = [pool.submit(_one, job) for job in jobs]
        for future in futures:
            try:
                good.append(future.result())
            except Exception:  # noqa: BLE001 - a bad image fails here as it fails in the pipeline
                failed += 1
        wall = time.perf_counter() - started
    return {"available": True, "workers": workers, "images": len(good), "failed": failed, "wall_s": round(wall, 3),
            "images_per_min": round(len(good) / wall * 60, 1) if wall else 0.0,
            "preprocess_ms": latency_summary([g[0] for g in good]),
            "inference_ms": latency_summary([g[1] for g in good])}
