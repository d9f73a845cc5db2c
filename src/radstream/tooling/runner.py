"""`radstream run`: the main job — process the sample studies end to end and summarise.

Submits every sample concurrently through the real path (S3 upload -> trigger -> Step
Functions -> Lambda handlers -> model server), prints one row per study and a summary line
with throughput and latency percentiles, and exits non-zero if any study ended differently
from what its sample expects.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from radstream.tooling.bench.stats import percentile
from radstream.tooling.client import PipelineClient, Study
from radstream.tooling.samples import build_samples, write_samples
from radstream.tooling.stack.emulator_admin import flush_telemetry


def run_samples(target, samples_dir: Path, *, concurrency: int, print_records, console) -> int:
    run_id = datetime.now(timezone.utc).strftime("%H%M%S")
    studies = build_samples(run_id)
    write_samples(samples_dir, run_id)
    client = PipelineClient(target)
    records: dict[str, dict] = {}
    started = time.perf_counter()
    with Progress(TextColumn("[bold]processing studies"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("studies", total=len(studies))
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = {pool.submit(client.submit, Study(data, sample.filename, metadata, study_id)): study_id
                       for sample, data, metadata, study_id in studies}
            for future in as_completed(futures):
                records[futures[future]] = future.result()
                progress.advance(task)
    wall_s = time.perf_counter() - started
    ordered = [records[study_id] for _, _, _, study_id in studies]
    print_records(ordered)

    unexpected = []
    for (sample, _, _, study_id), record in zip(studies, ordered):
        code = record.get("error", {}).get("code") if record["status"] != "SUCCEEDED" else None
        if record["status"] != sample.expected_status or code != sample.expected_error:
            unexpected.append(f"{study_id}: expected {sample.expected_status}"
                              f"{' ' + sample.expected_error if sample.expected_error else ''}, got "
                              f"{record['status']}{' ' + code if code else ''}")
    latencies = [r["latency_ms"] for r in ordered if r.get("latency_ms") is not None]
    succeeded = sum(r["status"] == "SUCCEEDED" for r in ordered)
    summary = (f"{len(ordered)} studies in {wall_s:.1f} s ({len(ordered) / wall_s * 60:.1f} studies/min, "
               f"{concurrency} in flight): {succeeded} succeeded, {len(ordered) - succeeded} failed")
    if latencies:
        summary += (f"; latency p50 {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 95):.0f} ms, "
                    f"max {max(latencies):.0f} ms")
    print(summary)
    if target.name == "embedded" and flush_telemetry(target.endpoint_url) is None:
        # The run itself succeeded; analytics catch up at the next buffer interval.
        console.print("[yellow]telemetry not flushed yet: the emulator did not answer the flush request[/yellow]")
    if unexpected:
        console.print("[red]unexpected outcomes:[/red]\n  " + "\n  ".join(unexpected))
        return 1
    console.print(f"[green]every study ended as expected[/green] (failures above are the deliberate bad samples). "
                  f"Sample files: {samples_dir}. Next: `radstream query --all`, then `make down`.")
    return 0
