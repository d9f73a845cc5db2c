"""`radstream ab` end to end on the session's embedded stack (tiny blocks: the structure, the deploys and the
restore are checked here; the figures are for `radstream ab` to print, never asserted)."""

import json

import pytest

from radstream.definition.template import parameter_defaults
from radstream.infra.deploy import deployed_parameters, deployed_workflow, describe, pending_changes
from radstream.tooling.cli import main
from radstream.tooling.stack.embedded import EmbeddedStack


def cli(embedded_stack, *args: str) -> int:
    return main(["--state-dir", str(embedded_stack.embedded.state_dir), *args])


def test_model_batching_runs_interleaved_blocks_and_restores_the_model_server(embedded_stack, tmp_path, capsys):
    out = tmp_path / "ab.json"
    assert cli(embedded_stack, "ab", "model-batching", "--blocks", "3", "--studies-per-block", "2", "--concurrent", "2",
               "--resamples", "200", "--json", "--out", str(out)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == doc and doc["kind"] == "radstream-ab"
    assert [a["name"] for a in doc["arms"]] == ["batch-1", "batch-8"]
    for arm in doc["arms"]:
        assert [b["round"] for b in arm["blocks"]] == [0, 1, 2]
        assert all(b["studies"] == 2 and b["errors"] == 0 and len(b["e2e_ms"]) == 2 for b in arm["blocks"])
    (comparison,) = doc["comparisons"]
    assert [m["metric"] for m in comparison["metrics"]] == ["p50 latency (ms)", "p95 latency (ms)",
                                                             "throughput (images/min)", "cost per image (USD)"]
    for m in comparison["metrics"]:
        assert m["low"] <= m["diff"] <= m["high"]
        assert m["verdict"].startswith("no significant difference") == (m["low"] <= 0 <= m["high"])
    assert any("rough" in note for note in doc["notes"])  # 3 blocks: said plainly
    # the original model server is back, with its original options
    stack = EmbeddedStack(embedded_stack.embedded.state_dir)
    assert stack.model_options == [] and stack.status()["model_server"]["ready"]


@pytest.mark.parametrize("name, arms, parameter, component", [
    ("lambda-memory", ["1024mb", "2048mb"], "PrepareTensorsMemorySize", "lambda"),
    ("workflow-type", ["standard", "express"], "WorkflowType", "step_functions"),
])
def test_deployment_scenarios_deploy_each_arm_and_restore_the_deployment(embedded_stack, tmp_path, capsys, name, arms,
                                                                          parameter, component):
    """Each arm is a CloudFormation deploy with a parameter override; the Express arm's studies are followed
    by their records (no DescribeExecution); afterwards the deployment is exactly what it was."""
    out = tmp_path / f"{name}.json"
    assert cli(embedded_stack, "ab", name, "--blocks", "3", "--studies-per-block", "2", "--concurrent", "2",
               "--resamples", "200", "--out", str(out)) == 0
    assert "restored the original configuration" in _err(capsys)
    doc = json.loads(out.read_text())
    assert [a["name"] for a in doc["arms"]] == arms
    for arm in doc["arms"]:
        assert [b["round"] for b in arm["blocks"]] == [0, 1, 2]
        assert all(b["studies"] == 2 and b["errors"] == 0 and len(b["e2e_ms"]) == 2 for b in arm["blocks"])
    by_arm = {a["name"]: a for a in doc["arms"]}
    if name == "workflow-type":
        assert [by_arm[a]["workflow_type"] for a in arms] == ["STANDARD", "EXPRESS"]
        notes = " ".join(doc["notes"])
        assert "at least once" in notes and "claims each study" in notes
    else:
        # the memory size each block ran with, as the functions' REPORT lines say
        assert {b["stages"]["prepare-tensors"]["duration_p50_ms"] > 0 for a in doc["arms"] for b in a["blocks"]} == {True}
    (comparison,) = doc["comparisons"]
    metrics = {m["metric"]: m for m in comparison["metrics"]}
    assert f"{component} cost per image (USD)" in metrics
    for m in metrics.values():
        assert m["low"] <= m["diff"] <= m["high"]
        assert m["verdict"].startswith("no significant difference") == (m["low"] <= 0 <= m["high"])
    parameters = deployed_parameters(describe(embedded_stack.client("cloudformation"), "radstream"))
    assert parameters[parameter] == parameter_defaults()[parameter]
    assert pending_changes(embedded_stack.target) == []
    assert deployed_workflow(embedded_stack.target).type == "STANDARD"


def test_scenarios_that_cannot_run_here_say_why(embedded_stack, capsys):
    assert cli(embedded_stack, "ab", "s3-express") == 1
    assert "S3 Express One Zone exists only on AWS" in _err(capsys)
    assert cli(embedded_stack, "ab", "no-such-scenario") == 1
    assert "the scenarios are" in _err(capsys)
    assert cli(embedded_stack, "ab", "model-batching", "--blocks", "2") == 1
    assert "at least 3" in _err(capsys)


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())  # rich folds long lines
