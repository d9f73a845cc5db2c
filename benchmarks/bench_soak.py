#!/usr/bin/env python3
"""Soak: does the embedded target stay as fast, and as small, after thousands of studies?

    .venv/bin/python benchmarks/bench_soak.py [--studies 5000] [--chunk 500] [--concurrent 8]

Drives the running embedded stack (`radstream up`; RADSTREAM_STATE_DIR / RADSTREAM_EMULATOR_PORT as
for every command) with synthetic 2048x2048 JPEG studies, ``--concurrent`` in flight without pause,
and prints one row per ``--chunk`` studies: throughput (first upload to last end of the chunk),
p50/p95 latency from upload to execution end, CPU milliseconds per study (emulator and all
processes), AWS requests per study, the resident memory of the emulator after the chunk and the
machine's load average (other work on a shared machine skews every figure).
The last line compares the last chunk with the first (same run, same machine). It prints figures;
it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

from radstream.tooling.bench.benchmark import load_studies, run_batch
from radstream.tooling.bench.stats import percentile, throughput
from radstream.tooling.bench.usage import StackProbe, usage_per_study
from radstream.tooling.stack import emulator_admin
from radstream.tooling.stack.embedded import DEFAULT_STATE_DIR, EmbeddedStack
from radstream.infra.targets import resolve


def rss_mb(pid: int | None) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=5000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=8)
    args = parser.parse_args()

    stack = EmbeddedStack(Path(os.environ.get("RADSTREAM_STATE_DIR") or DEFAULT_STATE_DIR))
    if not stack.emulator_healthy():
        print(f"the embedded stack is not running on {stack.endpoint_url}: `radstream up` first", file=sys.stderr)
        return 2
    target = resolve("embedded", port=stack.port, model_endpoint=stack.model_endpoint)
    emulator_pid = (emulator_admin.health(stack.endpoint_url) or {}).get("pid")
    probe = StackProbe(stack)
    run_id = uuid.uuid4().hex[:6]
    run_batch(target, load_studies(None, args.concurrent, f"soak-warm-{run_id}"), args.concurrent)

    print(f"{args.studies} studies, {args.concurrent} in flight, rows of {args.chunk}; emulator pid {emulator_pid}, "
          f"RSS {rss_mb(emulator_pid):.0f} MB at start")
    print(f"{'studies':>8} {'per min':>8} {'p50 ms':>7} {'p95 ms':>7} {'emu CPU ms':>10} {'all CPU ms':>10} "
          f"{'requests':>8} {'emu RSS MB':>10} {'errors':>6} {'load 1m':>7}")
    rows = []
    done = 0
    while done < args.studies:
        n = min(args.chunk, args.studies - done)
        studies = load_studies(None, n, f"soak-{run_id}-{done:06d}")
        before = probe.snapshot()
        records = run_batch(target, studies, args.concurrent)
        usage = usage_per_study(before, probe.snapshot(), len(records)) or {}
        done += n
        ends = [r["stopped_at"] for r in records if r.get("stopped_at")]
        latencies = [r["e2e_ms"] for r in records if r.get("e2e_ms") is not None] or [0.0]
        cpu = usage.get("cpu_s_per_study", {})
        row = {"studies": done, "per_min": throughput([r["upload_start"] for r in records], ends)["sustained_per_min"],
               "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
               "emulator_cpu_ms": 1000 * cpu.get("emulator", 0.0), "cpu_ms": 1000 * cpu.get("total", 0.0),
               "requests": usage.get("requests_per_study", {}).get("total", 0.0), "rss_mb": rss_mb(emulator_pid),
               "errors": sum(r["status"] != "SUCCEEDED" for r in records), "load": os.getloadavg()[0]}
        rows.append(row)
        print(f"{row['studies']:>8} {row['per_min']:>8.0f} {row['p50']:>7.0f} {row['p95']:>7.0f} "
              f"{row['emulator_cpu_ms']:>10.1f} {row['cpu_ms']:>10.1f} {row['requests']:>8.1f} "
              f"{row['rss_mb'] or 0:>10.0f} {row['errors']:>6} {row['load']:>7.1f}", flush=True)
    first, last = rows[0], rows[-1]
    print(f"last chunk vs first: throughput {last['per_min'] / first['per_min']:.2f}x, p95 {last['p95'] / first['p95']:.2f}x, "
          f"emulator CPU per study {last['emulator_cpu_ms'] / max(first['emulator_cpu_ms'], 1e-9):.2f}x, "
          f"emulator RSS {first['rss_mb']:.0f} -> {last['rss_mb']:.0f} MB "
          f"({(last['rss_mb'] - first['rss_mb']) / max(1, last['studies'] - first['studies']) * 1000:.1f} MB per 1,000 studies)")
    loads = [r["load"] for r in rows]
    print(f"load average (1 min) at the end of each row: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} CPUs")
    print("shared development machine: absolute figures are noisy; the ratios within this run are the point")
    return 0


if __name__ == "__main__":
    sys.exit(main())
