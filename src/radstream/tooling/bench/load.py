"""`radstream upload`: load generation. Uploads studies the way producers do and counts what happened.

Pacing is either ``--concurrent N`` (N uploads at a time, as fast as they go) or ``--rate R`` (a new
study every 1/R s, whatever the pipeline does: an open-loop arrival process). The command does not
wait for results; it checks, once the uploads are done, which studies got an execution (the S3
trigger started it) and counts uploads the target refused (an S3 error).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from radstream.tooling.client import PipelineClient, Study
from radstream.tooling.errors import StudyIdTakenError


@dataclass
class UploadSummary:
    uploaded: int = 0
    refused: int = 0
    refusals: Counter = field(default_factory=Counter)
    started: int = 0
    not_started: int = 0
    elapsed_s: float = 0.0
    wait_s: float = 0.0


def upload_studies(target, studies: list[Study], *, concurrent: int = 4, rate: float | None = None, console=None,
                   start_timeout_s: float = 30.0) -> UploadSummary:
    client = PipelineClient(target)
    summary = UploadSummary()
    lock = threading.Lock()
    accepted: list[str] = []

    def upload(study: Study) -> None:
        try:
            client.upload(study)
        except (ClientError, StudyIdTakenError) as exc:
            code = exc.code if isinstance(exc, StudyIdTakenError) else exc.response["Error"]["Code"]
            with lock:
                summary.refused += 1
                summary.refusals[code] += 1
            return
        with lock:
            summary.uploaded += 1
            accepted.append(study.study_id)

    workers = concurrent if rate is None else max(1, min(64, int(rate * 4) + 1))  # enough to keep the rate
    started = time.perf_counter()
    with Progress(TextColumn("[bold]uploading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("refused {task.fields[refused]}"), console=console, transient=True) as progress:
        task = progress.add_task("upload", total=len(studies), refused=0)

        def tracked(study: Study) -> None:
            upload(study)
            progress.update(task, advance=1, refused=summary.refused)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, study in enumerate(studies):
                if rate is not None:  # open loop: the i-th study leaves at i / rate seconds
                    delay = started + i / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                pool.submit(tracked, study)
    summary.elapsed_s = time.perf_counter() - started

    # Which uploads started an execution: the trigger runs right after the sidecar lands.
    pending = set(accepted)
    deadline = time.monotonic() + start_timeout_s
    while pending and time.monotonic() < deadline:
        for study_id in list(pending):
            if client.started(study_id):
                pending.discard(study_id)
        if pending:
            time.sleep(0.5)
    summary.wait_s = start_timeout_s
    summary.started = len(accepted) - len(pending)
    summary.not_started = len(pending)
    return summary
