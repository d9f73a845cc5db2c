"""`radstream ab SCENARIO`: the same workload under two or more configurations, with statistics.

Design: ``blocks`` rounds; in each round every arm runs one block (AB BA AB..., so slow phases of a
shared machine hit every arm, and a rising load does not always hit the same one), each block being: apply the arm's configuration, an unmeasured warm-up of as
many studies as are in flight, then ``studies_per_block`` measured studies (:func:`benchmark.measure`:
latency, throughput, cost per image from measured usage). The comparison of each arm with the first
is paired by round (:mod:`radstream.tooling.bench.stats`): per round, the difference between the two
arms' blocks in p50 and p95 latency, throughput and cost per image, and a bootstrap confidence interval
on the mean of those differences. An interval that spans 0 is reported as "no significant difference".

An arm is model-server options (the embedded stack manager restarts the server) and/or template
parameters (a deploy through CloudFormation with those overrides, as `radstream deploy --parameter`
does: Lambda memory sizes, the workflow type, where tensors are stored). The original configuration
is restored afterwards, also when the run fails or is interrupted (Ctrl-C).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from radstream.infra import deploy as deployment
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
    parameters: tuple[tuple[str, str], ...] = ()  # template parameters, deployed through CloudFormation


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    arms: tuple[Arm, ...]
    changes_locally: str
    changes_on_aws: str
    # target -> why the scenario cannot run there; targets not listed can run it
    refused: dict = field(default_factory=dict)
    # deployed parameters -> why this deployment cannot run the scenario (None: it can)
    precondition: Callable[[dict], str | None] | None = None
    # cost components the change acts on, compared on their own too (the total also moves with the
    # throughput-shared model-server price, which can hide them)
    cost_components: tuple[str, ...] = ()


def _needs_tensor_zone(parameters: dict) -> str | None:
    if parameters.get("TensorStorageZoneId"):
        return None
    return ("the deployment has no S3 Express One Zone directory bucket: deploy once with "
            "`radstream deploy --target aws --parameter TensorStorageZoneId=<zone id, e.g. use1-az4>` (the zone "
            "of the model server's nodes), then run the scenario; it switches TensorStorage only")

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
        "Lambda memory size of prepare-tensors (the decoding step): 1024 MB (the default) vs 2048 MB, deployed "
        "through CloudFormation (PrepareTensorsMemorySize).",
        (Arm("1024mb", "PrepareTensorsMemorySize=1024", parameters=(("PrepareTensorsMemorySize", "1024"),)),
         Arm("2048mb", "PrepareTensorsMemorySize=2048", parameters=(("PrepareTensorsMemorySize", "2048"),))),
        "on the embedded target memory size is the function's limit (an environment whose resident memory "
        "exceeds it is killed: Runtime.OutOfMemory) and its price (GB-seconds from the REPORT lines); it does "
        "NOT change the CPU share, so local latency should not move and the cost of prepare-tensors should double",
        "on AWS memory also buys CPU in proportion (1,769 MB = one vCPU), so decoding can get faster while "
        "each millisecond costs more",
        cost_components=("lambda",)),
    Scenario(
        "workflow-type",
        "Step Functions Standard vs Express workflow (WorkflowType; each type is its own state machine, "
        "radstream-pipeline or radstream-pipeline-express, since a type cannot change in place).",
        (Arm("standard", "WorkflowType=STANDARD", parameters=(("WorkflowType", "STANDARD"),)),
         Arm("express", "WorkflowType=EXPRESS", parameters=(("WorkflowType", "EXPRESS"),))),
        "the emulator runs both types with the same interpreter and the same task calls, so latency "
        "differences here are the client's (Express studies are followed by their terminal records, not "
        "DescribeExecution) and noise; the cost difference is the price model's: Standard pays per state "
        "transition (read from each execution's history), Express per execution plus its duration in 100 ms "
        "steps at 64 MB (durations from the performance telemetry)",
        "Express is priced per execution and duration instead of per state transition and has no execution "
        "history. It runs at least once: StartExecution does not deduplicate names, so the upload trigger "
        "claims each study (a write-once started/<id>.json) before starting it, and the image's and the "
        "sidecar's events start it once. An execution Express itself runs again re-does every step: a second "
        "model request, a second version of results/<id>/result.json (the results bucket keeps both; readers "
        "get the latest), and a second performance record and study event (telemetry counts the study twice, "
        "and the Express cost here counts both runs). If the two runs disagree (one fails on a transient "
        "error, one succeeds) the study has both a failure and a result record; the client reports the "
        "result. A trigger killed between its claim and StartExecution leaves the study unstarted",
        cost_components=("step_functions",)),
    Scenario(
        "s3-express",
        "S3 Standard vs S3 Express One Zone for the tensors prepare-tensors writes and run-inference reads "
        "(TensorStorage; the directory bucket exists once TensorStorageZoneId is set).",
        (Arm("s3-standard", "TensorStorage=standard", parameters=(("TensorStorage", "standard"),)),
         Arm("s3-express", "TensorStorage=express-one-zone", parameters=(("TensorStorage", "express-one-zone"),))),
        "nothing: S3 Express One Zone (directory buckets) exists only on AWS",
        "single-digit-ms requests at lower request prices and a higher storage price, in one Availability Zone",
        {"embedded": "S3 Express One Zone exists only on AWS; the embedded emulator (moto) does not emulate "
                     "directory buckets. Run it with --target aws",
         "localstack": "S3 Express One Zone exists only on AWS; LocalStack does not emulate directory buckets. "
                       "Run it with --target aws"},
        precondition=_needs_tensor_zone, cost_components=("s3_requests", "s3_storage")),
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

    def describe_original(self) -> str:
        return "model server " + (" ".join(self.original) or "defaults")


class DeploymentArms:
    """Applies an arm's template parameters with a deploy (a CloudFormation change set with those
    overrides, the other parameters kept as deployed); restores the deployed values afterwards."""

    def __init__(self, target, keys: set[str], report=lambda line: None) -> None:
        self.target, self.report = target, report
        deployed = deployment.deployed_parameters(
            deployment.describe(target.client("cloudformation"), deployment.cfn.STACK_NAME))
        if not deployed:
            raise ExperimentError(f"no RadStream stack is deployed on {target.name}: deploy it first "
                                  f"(`radstream up` or `radstream deploy --target {target.name}`)")
        self.deployed = deployed
        defaults = deployment.cfn.parameter_defaults()
        self.original = {k: deployed.get(k) or defaults[k] for k in sorted(keys)}
        self.current = dict(self.original)

    def apply(self, arm: Arm) -> None:
        self._deploy(dict(arm.parameters))

    def restore(self) -> None:
        # an interrupted deploy may still be in progress (on AWS): let CloudFormation finish it first
        deployment.wait_settled(self.target.client("cloudformation"), deployment.cfn.STACK_NAME, lambda line: None,
                                set())
        self._deploy(self.original)

    def _deploy(self, wanted: dict[str, str]) -> None:
        if all(self.current.get(k) == v for k, v in wanted.items()):
            return
        self.current.update({k: None for k in wanted})  # unknown until the deploy has finished
        deployment.deploy(self.target, overrides=wanted, report=self.report)
        self.current.update(wanted)

    def describe_original(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.original.items())


class Arms:
    """Everything the scenario's arms vary, applied together."""

    def __init__(self, target, stack, scenario: "Scenario", report=lambda line: None) -> None:
        self.parts = []
        if any(arm.model_options for arm in scenario.arms):
            self.parts.append(ModelServerArms(stack))
        keys = {k for arm in scenario.arms for k, _ in arm.parameters}
        if keys:
            self.parts.append(DeploymentArms(target, keys, report))

    @property
    def deployed(self) -> dict:
        return next((p.deployed for p in self.parts if isinstance(p, DeploymentArms)), {})

    def apply(self, arm: Arm) -> None:
        for part in self.parts:
            part.apply(arm)

    def restore(self) -> None:
        errors = []
        for part in self.parts:
            try:
                part.restore()
            except Exception as exc:  # restore the others; then say what could not be restored
                errors.append(f"{part.describe_original()}: {exc}")
        if errors:
            raise ExperimentError("could not restore the original configuration: " + "; ".join(errors))

    def describe_original(self) -> str:
        return "; ".join(part.describe_original() for part in self.parts)


def run_ab(target, stack, chosen: Scenario, *, blocks: int, studies_per_block: int, concurrency: int,
           pricing: Pricing, image_dir: Path | None = None, confidence: float = 0.95, resamples: int = 2000,
           seed: int = 0, on_block=None, report=lambda line: None, arms: Arms | None = None) -> dict:
    """``arms`` is the applier (built here unless given; the caller may keep it to say what was restored)."""
    if blocks < 3:
        raise ExperimentError("--blocks must be at least 3: throughput and cost per image have one value per block, "
                              "and a bootstrap interval from fewer is meaningless")
    if studies_per_block < 2:
        raise ExperimentError("--studies-per-block must be at least 2")
    arms = arms or Arms(target, stack, chosen, report)
    if chosen.precondition and (problem := chosen.precondition(arms.deployed)):
        raise ExperimentError(f"scenario {chosen.name} cannot run on this deployment: {problem}")
    probe = StackProbe(stack) if target.name == "embedded" else None
    results: dict[str, list[dict]] = {arm.name: [] for arm in chosen.arms}
    workflows: dict[str, dict] = {}
    started = datetime.now(timezone.utc).isoformat()
    try:
        for round_no in range(blocks):
            for arm in round_order(chosen.arms, round_no):
                arms.apply(arm)
                workflow = workflows[arm.name] = describe_workflow(target)
                tag = f"{uuid.uuid4().hex[:6]}-{arm.name}-r{round_no}"
                run_batch(target, load_studies(image_dir, concurrency, f"warm-{tag}"), concurrency)
                level = measure(target, load_studies(image_dir, studies_per_block, tag), concurrency, pricing,
                                workflow_type=workflow.get("type", "STANDARD") if workflow["available"] else "STANDARD",
                                tensor_storage=dict(arm.parameters).get(
                                    "TensorStorage", arms.deployed.get("TensorStorage", "standard")),
                                probe=probe)
                results[arm.name].append(_block(round_no, level))
                if on_block:
                    on_block(arm, round_no, level)
    finally:
        arms.restore()
    doc_arms = [{"name": arm.name, "label": arm.label, "model_options": list(arm.model_options),
                 "parameters": dict(arm.parameters), "workflow_type": workflows.get(arm.name, {}).get("type"),
                 "blocks": results[arm.name], "summary": _summary(results[arm.name])} for arm in chosen.arms]
    workflow = workflows.get(chosen.arms[0].name) or describe_workflow(target)
    base = doc_arms[0]
    comparisons = [{"a": base["name"], "b": other["name"], "confidence": confidence,
                    "metrics": [d.as_dict(base["name"], other["name"])
                                for d in compare(base["blocks"], other["blocks"], confidence, resamples, seed,
                                                 chosen.cost_components)]}
                   for other in doc_arms[1:]]
    return {
        "kind": RESULT_KIND, "version": 1, "scenario": chosen.name, "description": chosen.description,
        "target": target.name, "started_at": started,
        "design": {"blocks": blocks, "studies_per_block": studies_per_block, "concurrency": concurrency,
                   "order": " ".join("".join(chr(65 + chosen.arms.index(arm)) for arm in round_order(chosen.arms, r))
                                     for r in range(min(blocks, 2))) + " ...",
                   "warmup_per_block": concurrency, "bootstrap_resamples": resamples, "seed": seed,
                   "images": str(image_dir) if image_dir else "synthetic 2048x2048 JPEGs"},
        "arms": doc_arms, "comparisons": comparisons,
        "notes": [f"what the change does locally: {chosen.changes_locally}",
                  f"on AWS: {chosen.changes_on_aws}",
                  "intervals: a round is one block of each arm, run back to back; each round gives one paired "
                  "difference per metric (a block's p50/p95 of its studies, its throughput, its cost per image), "
                  "and the figures compared are the means over rounds with a bootstrap percentile interval on the "
                  "mean difference (studies of one block share that moment's load: they are not independent); each "
                  "metric at its own confidence level (not corrected for comparing several metrics). The arm table "
                  "pools all studies instead",
                  "the machine is shared: absolute figures are noisy; the differences within this interleaved run "
                  "are what the experiment measures"]
        + ([f"only {blocks} rounds: every interval rests on {blocks} resampled rounds and is rough (the "
            "percentile bootstrap is too narrow for few values); run --blocks 5 or more before trusting a "
            "verdict"] if blocks < 5 else [])
        + ([f"a block's p95 from {studies_per_block} studies is its maximum or close to it; run "
            "--studies-per-block 20 or more for a p95 comparison"] if studies_per_block < 20 else []),
        "machine": {"cpus": os.cpu_count()}, "workflow": workflow, "pricing": pricing.summary(),
    }


def round_order(arms: tuple[Arm, ...], round_no: int) -> tuple[Arm, ...]:
    """AB, BA, AB...: every other round reversed, so a load that rises (or falls) through the run does not
    always hit the arm that runs second; a round is still one block of every arm, back to back."""
    return arms if round_no % 2 == 0 else tuple(reversed(arms))


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
    functions = sorted({fn for b in blocks for fn in b["stages"]})
    return {"studies": sum(b["studies"] for b in blocks), "errors": sum(b["errors"] for b in blocks),
            "p50_ms": stats.percentile(pooled, 50) if pooled else None,
            "p95_ms": stats.percentile(pooled, 95) if pooled else None,
            "throughput_per_min": float(np.mean([b["throughput_per_min"] for b in blocks])),
            "cost_per_image_usd": float(np.mean([b["cost_per_image_usd"] for b in blocks])),
            # the median over blocks of each function's duration p50 (REPORT lines)
            "stage_p50_ms": {fn: float(np.median([b["stages"][fn]["duration_p50_ms"] for b in blocks
                                                  if fn in b["stages"]])) for fn in functions}}


def compare(a_blocks: list[dict], b_blocks: list[dict], confidence: float, resamples: int, seed: int,
            cost_components: tuple[str, ...] = ()) -> list[stats.Difference]:
    """Each metric's difference paired by round (:func:`stats.bootstrap_rounds`): a block's p50/p95 from
    its studies, its throughput and cost per image as measured."""
    kw = {"confidence": confidence, "resamples": resamples, "seed": seed}

    def rounds(blocks: list[dict], value) -> list[list[float]]:
        return [value(b) for b in sorted(blocks, key=lambda b: b["round"])]

    studies = lambda b: b["e2e_ms"]  # noqa: E731
    return [
        stats.bootstrap_rounds("p50 latency (ms)", rounds(a_blocks, studies), rounds(b_blocks, studies), stats.p50,
                               lower_is_better=True, **kw),
        stats.bootstrap_rounds("p95 latency (ms)", rounds(a_blocks, studies), rounds(b_blocks, studies), stats.p95,
                               lower_is_better=True, **kw),
        stats.bootstrap_rounds("throughput (images/min)", rounds(a_blocks, lambda b: [b["throughput_per_min"]]),
                               rounds(b_blocks, lambda b: [b["throughput_per_min"]]), stats.mean,
                               lower_is_better=False, **kw),
        stats.bootstrap_rounds("cost per image (USD)", rounds(a_blocks, lambda b: [b["cost_per_image_usd"]]),
                               rounds(b_blocks, lambda b: [b["cost_per_image_usd"]]), stats.mean,
                               lower_is_better=True, **kw),
    ] + [stats.bootstrap_rounds(f"{name} cost per image (USD)", rounds(a_blocks, lambda b: [b["cost"][name]]),
                                rounds(b_blocks, lambda b: [b["cost"][name]]), stats.mean, lower_is_better=True, **kw)
         for name in cost_components
         if all(b["cost"].get(name) is not None for b in a_blocks + b_blocks)]  # not measured here: left out
