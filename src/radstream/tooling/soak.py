"""`radstream soak` (`make soak`): many studies under faults; is any study lost, duplicated or mixed up?

On the running embedded stack it submits ``studies`` distinct studies (every image has its own bytes,
every sidecar its own view and timestamp) with ``concurrent`` in flight, and meanwhile:

- kills the model server when ``kill_at`` of the studies have been submitted and starts it again
  ``outage_s`` later (the stack manager stops and starts the process);
- races duplicate uploads: for ``races`` study ids, two clients upload *different* studies at the same
  moment; exactly one may be accepted, the other must be refused, and the result must be the winner's;
- resubmits ``resubmits`` finished studies unchanged (each must come back as the same record).

Then it reads every study's terminal records and checks:

- lost: a study with no terminal record (or whose client was told nothing);
- duplicated: a study with both a result and a failure, more than one execution, or a race in which
  both uploads were accepted;
- mixed up: a result whose image SHA-256 or sidecar fields are not the ones submitted under that id.

It prints those counts, the success rate and the recovery time (from the model server's restart to the
first study that succeeded after it, and to the last study in flight during the outage finishing),
and exits non-zero if any study was lost, duplicated or mixed up.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from radstream.deployed import s3_layout
from radstream.tooling import synthetic_images as synthetic
from radstream.tooling.client import PipelineClient, Study
from radstream.tooling.errors import StudyIdTakenError
from radstream.tooling.recovery.checks import reconcile
from radstream.tooling.recovery.inventory import read_inventory

VIEWS = ("PA", "AP", "LATERAL")


@dataclass
class Submitted:
    study: Study
    record: dict | None = None
    uploaded_at: float = 0.0
    finished_at: float = 0.0
    race: str | None = None            # "won" | "refused" for the two sides of a race


@dataclass
class SoakReport:
    studies: int = 0
    succeeded: int = 0
    failed: dict = field(default_factory=dict)       # error code -> count
    lost: list = field(default_factory=list)
    duplicated: list = field(default_factory=list)
    mixed_up: list = field(default_factory=list)
    races: int = 0
    races_refused: int = 0
    resubmits_same_record: int = 0
    resubmits: int = 0
    outage_s: float | None = None
    first_success_after_restart_s: float | None = None
    outage_backlog_cleared_after_s: float | None = None
    wall_s: float = 0.0
    reconcile: dict = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.studies if self.studies else 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.mixed_up)

    def as_dict(self) -> dict:
        doc = {k: v for k, v in self.__dict__.items()}
        doc.update(success_rate=round(self.success_rate, 4), ok=self.ok)
        return doc


def make_study(run: str, i: int, size: int, rng: random.Random) -> Study:
    study_id = f"soak-{run}-{i:05d}"
    metadata = {"study_id": study_id, "view": rng.choice(VIEWS),
                "timestamp": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z"}
    return Study(synthetic.chest_jpeg(i, (size, size)), "chest.jpg", metadata, study_id)


def run_soak(target: Any, stack: Any, *, studies: int = 500, concurrent: int = 16, kill_at: float = 0.3,
             outage_s: float = 30.0, races: int = 10, resubmits: int = 10, size: int = 512,
             timeout_s: float = 900.0, progress: Callable[[str], None] | None = None) -> SoakReport:
    rng = random.Random(12)
    run = uuid.uuid4().hex[:6]
    client = PipelineClient(target)
    per_thread = threading.local()  # a client (and its connection pool) per worker, as separate producers have
    say = progress or (lambda _: None)
    plan = [make_study(run, i, size, rng) for i in range(studies)]
    submitted: dict[str, Submitted] = {s.study_id: Submitted(s) for s in plan}
    lock = threading.Lock()
    done = Counter()
    outage: dict[str, float] = {}
    kill_after = int(studies * kill_at) if outage_s > 0 else None

    uploads_started = Counter()

    def one(item: Submitted) -> None:
        with lock:
            uploads_started["n"] += 1
            kill_now = kill_after is not None and uploads_started["n"] == kill_after + 1
        if kill_now:
            threading.Thread(target=outage_then_restart, daemon=True).start()
        item.uploaded_at = time.time()
        if not hasattr(per_thread, "client"):
            per_thread.client = PipelineClient(target)
        try:
            item.record = per_thread.client.submit(item.study, timeout_s=timeout_s)
        except Exception as exc:  # noqa: BLE001 - a soak counts every outcome; a crash here is "told nothing"
            item.record = {"study_id": item.study.study_id, "status": "CLIENT_ERROR",
                           "error": {"code": type(exc).__name__, "message": str(exc)}}
        item.finished_at = time.time()
        with lock:
            done[item.record["status"]] += 1
            if sum(done.values()) % 50 == 0:
                say(f"{sum(done.values())} of {studies} studies ended ({dict(done)})")

    def outage_then_restart() -> None:
        outage["started"] = 1
        outage["killed"] = time.time()
        say(f"model server killed ({stack.stop_model_server()}) after {kill_after} submissions")
        time.sleep(outage_s)
        stack.start()
        outage["restarted"] = time.time()
        say(f"model server restarted after {outage_s:.0f} s")

    started = time.time()
    with ThreadPoolExecutor(max_workers=concurrent) as pool:
        for item in submitted.values():
            pool.submit(one, item)
        race_results = _races(target, run, races, size, rng)
    while outage.get("started") and "restarted" not in outage:
        time.sleep(0.5)
    say(f"all {studies} submitted studies ended; resubmitting {resubmits} unchanged")
    report = SoakReport(studies=studies + len(race_results))
    report.wall_s = time.time() - started
    for item in rng.sample(list(submitted.values()), min(resubmits, studies)):
        again = client.submit(item.study, timeout_s=timeout_s)
        report.resubmits += 1
        if again.get("duplicate") and again.get("execution_arn") == item.record.get("execution_arn"):
            report.resubmits_same_record += 1
        else:
            report.duplicated.append(f"{item.study.study_id}: an unchanged resubmission gave {again.get('status')} "
                                     f"(duplicate={again.get('duplicate')})")
    _check(target, client, submitted, race_results, report)
    if outage:
        _recovery(submitted, outage, report)
    inventory = read_inventory(target)
    findings = reconcile(inventory, since=None)
    ours = [f for f in findings.findings if f.study_id.startswith(f"soak-{run}")]
    report.reconcile = {kind: [f.study_id for f in ours if f.kind == kind]
                        for kind in ("missing", "stuck", "orphaned", "duplicated")}
    return report


@dataclass
class Race:
    study_id: str
    sides: list[Study]
    accepted: list[int] = field(default_factory=list)   # indexes of the sides whose upload was accepted
    refused: list[int] = field(default_factory=list)
    record: dict | None = None


def _races(target: Any, run: str, races: int, size: int, rng: random.Random) -> list[Race]:
    """Two different studies uploaded under one id at the same moment, ``races`` times."""
    out = []
    for r in range(races):
        study_id = f"soak-{run}-race-{r:03d}"
        sides = [Study(synthetic.chest_jpeg(100_000 + 2 * r + side, (size, size)), "chest.jpg",
                       {"study_id": study_id, "view": VIEWS[side], "timestamp": f"2024-02-01T0{side}:00:00Z"},
                       study_id) for side in (0, 1)]
        race = Race(study_id, sides)
        barrier = threading.Barrier(2)

        def side(index: int, race: Race = race, barrier: threading.Barrier = barrier) -> None:
            client = PipelineClient(target)
            barrier.wait()
            try:
                client.upload(race.sides[index])
                race.accepted.append(index)
            except StudyIdTakenError:
                race.refused.append(index)

        threads = [threading.Thread(target=side, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out.append(race)
    client = PipelineClient(target)
    for race in out:
        race.record = client.wait(race.study_id, timeout_s=600)
    return out


def _check(target: Any, client: PipelineClient, submitted: dict[str, Submitted], races: list[Race],
           report: SoakReport) -> None:
    inventory = read_inventory(target)
    s3, bucket = target.client("s3"), target.names.results_bucket
    expected: dict[str, Study] = {sid: item.study for sid, item in submitted.items()}
    for race in races:
        report.races += 1
        if len(race.accepted) != 1:
            report.duplicated.append(f"{race.study_id}: {len(race.accepted)} of two different uploads accepted")
            continue
        report.races_refused += len(race.refused)
        expected[race.study_id] = race.sides[race.accepted[0]]
    records = {sid: item.record for sid, item in submitted.items()}
    records.update({race.study_id: race.record for race in races})
    for study_id, study in expected.items():
        record = records.get(study_id) or {}
        has_result, has_failure = study_id in inventory.results, study_id in inventory.failures
        executions = inventory.executions.get(study_id, [])
        if not (has_result or has_failure):
            report.lost.append(f"{study_id}: no terminal record (client saw {record.get('status')})")
            continue
        if has_result and has_failure:
            report.duplicated.append(f"{study_id}: both a result and a failure record")
        if len(executions) > 1:
            report.duplicated.append(f"{study_id}: {len(executions)} executions")
        if has_result:
            report.succeeded += 1
            stored = json.loads(s3.get_object(Bucket=bucket, Key=s3_layout.result_key(study_id))["Body"].read())
            wrong = [f for f in ("view", "timestamp") if stored.get("metadata", {}).get(f) != study.metadata[f]]
            if stored.get("image_sha256") != study.image_sha256:
                wrong.append("image")
            if wrong:
                report.mixed_up.append(f"{study_id}: the result's {', '.join(wrong)} is not what was submitted")
        else:
            code = inventory.failures[study_id].code or "UnknownError"
            report.failed[code] = report.failed.get(code, 0) + 1
        if record.get("status") not in ("SUCCEEDED", "FAILED"):
            report.lost.append(f"{study_id}: its client was told {record.get('status')} "
                               f"({(record.get('error') or {}).get('code')})")


def _recovery(submitted: dict[str, Submitted], outage: dict[str, float], report: SoakReport) -> None:
    killed, restarted = outage["killed"], outage.get("restarted")
    if restarted is None:
        return
    report.outage_s = round(restarted - killed, 1)
    after = [i.finished_at for i in submitted.values()
             if i.record and i.record.get("status") == "SUCCEEDED" and i.finished_at > restarted]
    if after:
        report.first_success_after_restart_s = round(min(after) - restarted, 1)
    in_flight = [i.finished_at for i in submitted.values() if i.uploaded_at and i.uploaded_at < restarted]
    if in_flight:
        report.outage_backlog_cleared_after_s = round(max(in_flight) - restarted, 1)
