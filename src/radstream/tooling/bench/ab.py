"""`radstream ab SCENARIO`: the same workload under two or more configurations, with statistics.

Design: ``blocks`` rounds; in each round every arm runs one block (ABAB..., so slow phases of a shared
machine hit every arm), each block being: apply the arm's configuration, an unmeasured warm-up of as
many studies as are in flight, then ``studies_per_block`` measured studies (:func:`benchmark.measure`:
latency, throughput, cost per image from measured usage). The comparison of each arm with the first
is a bootstrap confidence interval (:mod:`radstream.tooling.bench.stats`) on the difference in p50 and
p95 latency (per-study values pooled over the arm's blocks), throughput and cost per image (one
value per block). An interval that spans 0 is reported as "no significant difference".

The original configuration is restored afterwards, also when the run fails or is interrupted (Ctrl-C).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from radstream.tooling.bench import stats
from radstream.tooling.bench.benchmark import describe_workflow, load_studies, measure, run_batch
from radstream.tooling.bench.pricing import Pricing
from radstream.tooling.bench.usage import StackProbe
from radstream.tooling.errors import ExperimentError

RESULT_KIND = "radstream-ab"


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    model_options: tuple[str, ...] = ()  # model-server flags (embedded: the stack manager restarts it)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    arms: tuple[Arm, ...]
    changes_locally: str
    changes_on_aws: str
    # target -> why the scenario cannot run there; targets not listed can run it
    refused: dict = field(default_factory=dict)


_NEEDS_TEMPLATE = ("this arm changes the deployment (a parameter of the deploy), which waits on the CloudFormation "
                   "template with parameter overrides (issue 9) and is not built yet")
_MODEL_SERVER_ELSEWHERE = ("the model server's options are changed by restarting it through the embedded stack manager; "
                           "on {target} it runs elsewhere (compose / EKS): change its deployment and compare two "
                           "`radstream bench --out` runs instead")

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario(
        "model-batching",
        "The model server's dynamic batching off (--max-batch-size 1) vs on (up to 8 requests, 5 ms queue delay). "
        "There is no pipeline-level batching to vary: each study is one execution and RunInference sends one tensor, "
        "so requests can only be batched inside the server, when several studies are in flight at once.",
        (Arm("batch-1", "--max-batch-size 1", ("--max-batch-size", "1")),
         Arm("batch-8", "--max-batch-size 8 --max-queue-delay-ms 5",
             ("--max-batch-size", "8", "--max-queue-delay-ms", "5"))),
        "the local model server's batching (restarted between blocks)",
        "the same flags on the model server's container (model_server/k8s); compare two bench runs",
        {"localstack": _MODEL_SERVER_ELSEWHERE, "aws": _MODEL_SERVER_ELSEWHERE}),
    Scenario(
        "model-capacity",
        "Model-server capacity: 1 vs 2 model instances executing at once (--instances), the local stand-in for "
        "replicas with autoscaling off vs on (model_server/k8s/autoscaling on EKS).",
        (Arm("1-instance", "--instances 1", ("--instances", "1")),
         Arm("2-instances", "--instances 2", ("--instances", "2"))),
        "concurrent model executions in the local model server (restarted between blocks); both share the "
        "machine's 2 cores, so more instances cannot add compute here, only overlap",
        "on EKS the equivalent is the replica count (HPA min/max): more nodes' worth of compute",
        {"localstack": _MODEL_SERVER_ELSEWHERE, "aws": _MODEL_SERVER_ELSEWHERE}),
    Scenario(
        "lambda-memory",
        "Lambda memory size of prepare-tensors: 1024 MB vs 2048 MB.",
        (Arm("1024mb", "prepare-tensors 1024 MB"), Arm("2048mb", "prepare-tensors 2048 MB")),
        "on the embedded target memory size is the function's limit (exceeding it ends the invocation with "
        "Runtime.OutOfMemory) and its price (GB-seconds); it does NOT change the CPU share, so local latency "
        "should not move",
        "on AWS memory also buys CPU in proportion (1,769 MB = one vCPU), so decoding can get faster while "
        "each millisecond costs more",
        {"embedded": _NEEDS_TEMPLATE, "localstack": _NEEDS_TEMPLATE, "aws": _NEEDS_TEMPLATE}),
    Scenario(
        "workflow-type",
        "Step Functions Standard vs Express workflow.",
        (Arm("standard", "STANDARD"), Arm("express", "EXPRESS")),
        "the emulator runs both types with the same interpreter: latency differences would be the emulator's",
        "Express is priced per execution and duration instead of per state transition, and runs at least once: "
        "a study may be processed twice (the execution name no longer deduplicates uploads, so results must be "
        "written idempotently)",
        {"embedded": _NEEDS_TEMPLATE, "localstack": _NEEDS_TEMPLATE, "aws": _NEEDS_TEMPLATE}),
    Scenario(
        "s3-express",
        "S3 Standard vs S3 Express One Zone for the images bucket.",
        (Arm("s3-standard", "S3 Standard"), Arm("s3-express", "S3 Express One Zone (directory bucket)")),
        "nothing: S3 Express One Zone (directory buckets) exists only on AWS",
        "single-digit-ms requests at lower request prices and a higher storage price, in one Availability Zone",
        {"embedded": "S3 Express One Zone exists only on AWS; the embedded emulator (moto) does not emulate "
                     "directory buckets. Run it with --target aws",
         "localstack": "S3 Express One Zone exists only on AWS; LocalStack does not emulate directory buckets. "
                       "Run it with --target aws",
         "aws": "the images bucket's storage class is a deployment parameter, which waits on the CloudFormation "
                "template with parameter overrides (issue 9) and is not built yet"}),
)}


def scenario(name: str, target_name: str) -> Scenario:
    """The named scenario, or ExperimentError saying why it cannot run on this target."""
    if name not in SCENARIOS:
        raise ExperimentError(f"no scenario named {name!r}; the scenarios are: {', '.join(SCENARIOS)}")
    chosen = SCENARIOS[name]
    if target_name in chosen.refused:
        raise ExperimentError(f"scenario {name} cannot run on {target_name}: "
                              + chosen.refused[target_name].format(target=target_name))
    return chosen


class ModelServerArms:
    """Applies an arm's model-server options through the embedded stack manager; restores the original."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.original = list(stack.model_options)

    def apply(self, arm: Arm) -> None:
        self.stack.restart_model_server(list(arm.model_options))

    def restore(self) -> None:
        if self.stack.model_options != self.original:
            self.stack.restart_model_server(self.original)


def run_ab(target, stack, chosen: Scenario, *, blocks: int, studies_per_block: int, concurrency: int,
           pricing: Pricing, image_dir: Path | None = None, confidence: float = 0.95, resamples: int = 2000,
           seed: int = 0, on_block=None) -> dict:
    if blocks < 3:
        raise ExperimentError("--blocks must be at least 3: throughput and cost per image have one value per block, "
                              "and a bootstrap interval from fewer is meaningless")
    if studies_per_block < 2:
        raise ExperimentError("--studies-per-block must be at least 2")
    workflow = describe_workflow(target)
    workflow_type = workflow.get("type", "STANDARD") if workflow["available"] else "STANDARD"
    arms = ModelServerArms(stack)
    results: dict[str, list[dict]] = {arm.name: [] for arm in chosen.arms}
    started = datetime.now(timezone.utc).isoformat()
    try:
        for round_no in range(blocks):
            for arm in chosen.arms:
                arms.apply(arm)
                tag = f"{uuid.uuid4().hex[:6]}-{arm.name}-r{round_no}"
                run_batch(target, load_studies(image_dir, concurrency, f"warm-{tag}"), concurrency)
                level = measure(target, load_studies(image_dir, studies_per_block, tag), concurrency, pricing,
                                workflow_type=workflow_type, probe=StackProbe(stack))
                results[arm.name].append(_block(round_no, level))
                if on_block:
                    on_block(arm, round_no, level)
    finally:
        arms.restore()
    doc_arms = [{"name": arm.name, "label": arm.label, "model_options": list(arm.model_options),
                 "blocks": results[arm.name], "summary": _summary(results[arm.name])} for arm in chosen.arms]
    base = doc_arms[0]
    comparisons = [{"a": base["name"], "b": other["name"], "confidence": confidence,
                    "metrics": [d.as_dict(base["name"], other["name"])
                                for d in compare(base["blocks"], other["blocks"], confidence, resamples, seed)]}
                   for other in doc_arms[1:]]
    return {
        "kind": RESULT_KIND, "version": 1, "scenario": chosen.name, "description": chosen.description,
        "target": target.name, "started_at": started,
        "design": {"blocks": blocks, "studies_per_block": studies_per_block, "concurrency": concurrency,
                   "order": "".join(chr(65 + i) for i in range(len(chosen.arms))) * 2 + "...",
                   "warmup_per_block": concurrency, "bootstrap_resamples": resamples, "seed": seed,
                   "images": str(image_dir) if image_dir else "synthetic 2048x2048 JPEGs"},
        "arms": doc_arms, "comparisons": comparisons,
        "notes": [f"what the change does locally: {chosen.changes_locally}",
                  f"on AWS: {chosen.changes_on_aws}",
                  "intervals: bootstrap percentile intervals, each arm resampled on its own; latency from the studies "
                  "pooled over the arm's blocks, throughput and cost per image from one value per block; each "
                  "metric at its own confidence level (not corrected for comparing four metrics)",
                  "the machine is shared: absolute figures are noisy; the differences within this interleaved run "
                  "are what the experiment measures"]
        + ([f"only {blocks} blocks per arm: the throughput and cost intervals rest on {blocks} values each and "
            "are rough (the percentile bootstrap is too narrow for few values); run --blocks 5 or more before "
            "trusting a verdict on them"] if blocks < 5 else [])
        + ([f"p95 from {blocks * studies_per_block} studies per arm is close to their maximum; run more studies "
            "for a stable p95"] if blocks * studies_per_block < 60 else []),
        "machine": {"cpus": os.cpu_count()}, "workflow": workflow, "pricing": pricing.summary(),
    }


def _block(round_no: int, level: dict) -> dict:
    return {"round": round_no, "studies": level["studies"], "errors": level["errors"]["count"],
            "e2e_ms": [t["e2e_ms"] for t in level["timeline"] if t["e2e_ms"] is not None and t["status"] == "SUCCEEDED"],
            "p50_ms": level["latency_ms"]["p50"], "p95_ms": level["latency_ms"]["p95"],
            "throughput_per_min": level["throughput"]["sustained_per_min"],
            "cost_per_image_usd": level["cost"]["total_per_image_usd"], "cost": level["cost"]["per_image_usd"],
            "stages": {fn: {"duration_p50_ms": s["duration_p50_ms"], "duration_p95_ms": s["duration_p95_ms"]}
                       for fn, s in level["stages"].items()}}


def _summary(blocks: list[dict]) -> dict:
    pooled = [v for b in blocks for v in b["e2e_ms"]]
    return {"studies": sum(b["studies"] for b in blocks), "errors": sum(b["errors"] for b in blocks),
            "p50_ms": stats.percentile(pooled, 50) if pooled else None,
            "p95_ms": stats.percentile(pooled, 95) if pooled else None,
            "throughput_per_min": float(np.mean([b["throughput_per_min"] for b in blocks])),
            "cost_per_image_usd": float(np.mean([b["cost_per_image_usd"] for b in blocks]))}


def compare(a_blocks: list[dict], b_blocks: list[dict], confidence: float, resamples: int, seed: int
            ) -> list[stats.Difference]:
    pooled_a = [v for b in a_blocks for v in b["e2e_ms"]]
    pooled_b = [v for b in b_blocks for v in b["e2e_ms"]]
    per_block = lambda blocks, key: [b[key] for b in blocks]  # noqa: E731
    kw = {"confidence": confidence, "resamples": resamples, "seed": seed}
    return [
        stats.bootstrap_difference("p50 latency (ms)", pooled_a, pooled_b, stats.p50, lower_is_better=True, **kw),
        stats.bootstrap_difference("p95 latency (ms)", pooled_a, pooled_b, stats.p95, lower_is_better=True, **kw),
        stats.bootstrap_difference("throughput (images/min)", per_block(a_blocks, "throughput_per_min"),
                                   per_block(b_blocks, "throughput_per_min"), stats.mean, lower_is_better=False, **kw),
        stats.bootstrap_difference("cost per image (USD)", per_block(a_blocks, "cost_per_image_usd"),
                                   per_block(b_blocks, "cost_per_image_usd"), stats.mean, lower_is_better=True, **kw),
    ]
