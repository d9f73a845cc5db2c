#!/usr/bin/env python3
"""Model server benchmark: infer/s and latency at concurrency 1, 8, 32, dynamic batching on vs off.

    .venv/bin/python benchmarks/bench_model_server.py [--seconds 3] [--concurrency 1 8 32]
        [--max-batch-size 8] [--max-queue-delay-ms 5] [--payload binary|json]
        [--models stub cnn] [--model-path PATH --model-name NAME]

Two models by default: ``stub`` (the packaged chestxray14-stub, ~0.1 ms of compute per image,
so the figures show the server's per-request overhead) and ``cnn`` (a synthetic 3-layer CNN
built into a temp dir at start, ~2 ms per image on one of these cores, closer to a compute-bound
real model). ``--model-path`` benchmarks your own model instead.

Starts two model servers on free 127.0.0.1 ports from the same code and model — one with
dynamic batching (``--max-batch-size N --max-queue-delay-ms D``), one without
(``--max-batch-size 1``) — and drives each with C closed-loop client threads sending
one (1, 1, 224, 224) FP32 image per request through ``radstream.deployed.inference.client`` (the
pipeline's client, binary tensor extension). Prints a table and the on/off ratios measured
in this run. It prints figures; it asserts nothing about speed.

Client and server share this machine's cores, so absolute figures understate a separate
client; the ratios are the point.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "model_server"))

from radstream.tooling.stack.embedded import free_port  # noqa: E402
from radstream.deployed.inference.client import OIPClient  # noqa: E402


def build_synthetic_cnn(directory: Path) -> Path:
    """A compute-bound stand-in: Conv 7x7/2 (1->16), 3x3/2 (16->32), 3x3/2 (32->64), GAP, FC->14, sigmoid."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    nodes, inits, cur, cin = [], [], "input", 1
    for j, (c, k) in enumerate(zip((16, 32, 64), (7, 3, 3))):
        w = (rng.standard_normal((c, cin, k, k)) * np.sqrt(2 / (cin * k * k))).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"c{j}.w"))
        nodes += [helper.make_node("Conv", [cur, f"c{j}.w"], [f"c{j}"], kernel_shape=[k, k], strides=[2, 2],
                                   pads=[k // 2] * 4),
                  helper.make_node("Relu", [f"c{j}"], [f"r{j}"])]
        cur, cin = f"r{j}", c
    inits += [numpy_helper.from_array((rng.standard_normal((14, 64)) * 0.1).astype(np.float32), "fc.w"),
              numpy_helper.from_array(np.full(14, -1.5, np.float32), "fc.b")]
    nodes += [helper.make_node("GlobalAveragePool", [cur], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
              helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1),
              helper.make_node("Sigmoid", ["logits"], ["scores"])]
    graph = helper.make_graph(
        nodes, "synthetic_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 224, 224])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 14])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    d = directory / "synthetic-cnn" / "1"
    d.mkdir(parents=True, exist_ok=True)
    onnx.save(model, d / "model.onnx")
    (d / "model.json").write_text(json.dumps({"name": "synthetic-cnn", "version": "1", "stub": True}))
    return d / "model.onnx"


def start_server(extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "radstream_model_server", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server {extra} exited: {proc.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not become ready")


def metric_sum(url: str, name: str) -> tuple[float, float]:
    """(count, sum) of a histogram from /metrics (all label sets)."""
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    count = total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "_count"):
            count += float(line.rsplit(" ", 1)[1])
        elif line.startswith(name + "_sum"):
            total += float(line.rsplit(" ", 1)[1])
    return count, total


def run_load(url: str, model: str, concurrency: int, seconds: float, payload: str, x: np.ndarray) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = [0.0]
    start = threading.Barrier(concurrency + 1)
    binary = payload == "binary"

    def worker():
        client = OIPClient(url, retries=0, read_timeout_s=30)
        mine = []
        start.wait()
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            try:
                client.infer(model, {"input": x}, binary_input=binary, binary_output=binary, outputs=["scores"])
                mine.append(time.perf_counter() - t0)
            except Exception:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    b0 = metric_sum(url, "radstream_model_batch_size")
    t_start = time.perf_counter()
    stop_at[0] = t_start + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    b1 = metric_sum(url, "radstream_model_batch_size")
    calls = b1[0] - b0[0]
    lat = sorted(latencies)
    return {
        "requests": len(lat),
        "errors": errors[0],
        "infer_per_s": len(lat) / elapsed,
        "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
        "p95_ms": 1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan"),
        "mean_batch": (b1[1] - b0[1]) / calls if calls else float("nan"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="measured seconds per cell and round")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the median is reported")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--max-batch-size", type=int, default=8)
    ap.add_argument("--max-queue-delay-ms", type=float, nargs="+", default=[5.0, 0.0],
                    help="one 'batching on' configuration per delay (default: 5 and 0)")
    ap.add_argument("--instances", type=int, default=1, help="model instances in every configuration")
    ap.add_argument("--intra-op-threads", type=int, default=0, help="ONNX Runtime threads per call (0 = its default)")
    ap.add_argument("--payload", choices=["binary", "json"], default="binary")
    ap.add_argument("--models", nargs="+", choices=["stub", "cnn"], default=["stub", "cnn"])
    ap.add_argument("--model-path", default=None, help="benchmark this model instead of --models")
    ap.add_argument("--model-name", default=None, help="its name (default: from the model)")
    ap.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = ap.parse_args(argv)

    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="bench-model-server-"))
    if args.model_path:
        models = [(args.model_name or Path(args.model_path).stem, ["--model-path", args.model_path]
                   + (["--model-name", args.model_name] if args.model_name else []))]
    else:
        models = []
        for m in args.models:
            if m == "stub":
                models.append(("chestxray14-stub", []))
            else:
                models.append(("synthetic-cnn", ["--model-path", str(build_synthetic_cnn(tmp))]))
    server_args = ["--instances", str(args.instances), "--intra-op-threads", str(args.intra_op_threads)]
    models = [(name, margs + server_args) for name, margs in models]
    x = np.random.default_rng(0).random((1, 1, 224, 224), dtype=np.float32)
    print(f"{os.cpu_count()} CPUs shared by client and server; payload {args.payload}; "
          f"{args.seconds:g} s per cell x {args.rounds} rounds; instances {args.instances}, "
          f"intra-op threads {args.intra_op_threads or 'default'}; "
          f"batching on = max batch {args.max_batch_size}, max queue delay "
          f"{' / '.join(f'{d:g}' for d in args.max_queue_delay_ms)} ms; "
          "off = max batch 1", flush=True)
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          "(other processes on this machine add noise; compare ratios, not absolutes)", flush=True)
    results: dict[str, dict[str, dict[int, dict]]] = {}
    for model_name, model_args in models:
        configs = {"off": model_args + ["--max-batch-size", "1"]}
        for d in args.max_queue_delay_ms:
            configs[f"on/{d:g}ms"] = model_args + ["--max-batch-size", str(args.max_batch_size),
                                                  "--max-queue-delay-ms", str(d)]
        print(f"\nmodel {model_name}", flush=True)
        servers = {}
        try:
            for mode, extra in configs.items():
                servers[mode] = start_server(extra)
                run_load(servers[mode][1], model_name, 4, 0.5, args.payload, x)  # warm-up
            # Interleave on/off cells over several rounds and keep the median, so load from
            # other processes on this machine drifts into both modes alike.
            cells: dict[str, dict[int, list[dict]]] = {m: {c: [] for c in args.concurrency} for m in configs}
            for rnd in range(args.rounds):
                for c in args.concurrency:
                    modes = list(configs) if rnd % 2 == 0 else list(configs)[::-1]
                    for mode in modes:
                        r = run_load(servers[mode][1], model_name, c, args.seconds, args.payload, x)
                        cells[mode][c].append(r)
                        print(f"  round {rnd + 1} batching {mode:8s} c={c:<3d} {r['infer_per_s']:8.1f} infer/s"
                              f"  p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms"
                              f"  mean batch {r['mean_batch']:5.2f}  errors {r['errors']}", flush=True)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
        results[model_name] = {
            mode: {c: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for c, runs in per_c.items()}
            for mode, per_c in cells.items()
        }

    for model_name, res in results.items():
        print(f"\n{model_name}: median of {args.rounds} interleaved rounds; ratio = on / off "
              "(infer/s: higher is better; p95: lower is better)")
        on_modes = [m for m in res if m != "off"]
        head = f"{'conc':>4} | {'off infer/s':>11} {'p95 ms':>7}"
        for m in on_modes:
            head += f" | {m + ' infer/s':>16} {'ratio':>6} {'p95 ms':>7} {'ratio':>6} {'batch':>5}"
        print(head)
        for c in args.concurrency:
            off = res["off"][c]
            line = f"{c:>4} | {off['infer_per_s']:>11.1f} {off['p95_ms']:>7.2f}"
            for m in on_modes:
                on = res[m][c]
                line += (f" | {on['infer_per_s']:>16.1f} {on['infer_per_s'] / off['infer_per_s']:>5.2f}x"
                         f" {on['p95_ms']:>7.2f} {on['p95_ms'] / off['p95_ms']:>5.2f}x {on['mean_batch']:>5.2f}")
            print(line)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        print(json.dumps(results, indent=2))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
