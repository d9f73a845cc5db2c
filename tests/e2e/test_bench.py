"""`radstream bench` and `radstream upload` against the session's embedded stack (small runs: figures are
printed by the commands, never asserted; these tests check that every figure is there and consistent)."""

import json

import pytest

from radstream.tooling.cli import main
from radstream.tooling import synthetic_images as synthetic

PIPELINE_FUNCTIONS = {"upload-trigger", "validate-metadata", "prepare-tensors", "run-inference", "store-results",
                      "send-telemetry"}


def cli(embedded_stack, *args: str) -> int:
    return main(["--state-dir", str(embedded_stack.embedded.state_dir), *args])


def test_bench_reports_latency_throughput_stages_cost_floor_and_targets(embedded_stack, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli(embedded_stack, "bench", "--num-studies", "4", "--concurrent", "2", "--json", "--out", str(out)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == doc
    assert doc["kind"] == "radstream-bench" and doc["target"] == "embedded"
    assert doc["workflow"]["type"] == "STANDARD" and "ValidateMetadata" in doc["workflow"]["definition"]["States"]
    (level,) = doc["levels"]
    assert level["studies"] == level["succeeded"] == 4 and level["errors"] == {"count": 0, "pct": 0.0, "by_code": {}}
    lat = level["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    # upload -> execution end includes the upload and the trigger, so it is never shorter than the workflow
    assert lat["p50"] >= level["workflow_latency_ms"]["p50"]
    assert level["throughput"]["sustained_per_min"] > 0 and level["throughput"]["peak_per_min"] > 0
    assert set(level["stages"]) == PIPELINE_FUNCTIONS
    for name, stage in level["stages"].items():
        # the upload trigger runs once per arriving object: the sidecar and the image
        assert stage["invocations"] == (8 if name == "upload-trigger" else 4), name
        assert 0 < stage["max_memory_used_mb"] <= stage["memory_size_mb"]
    cost = level["cost"]
    assert cost["per_image_usd"]["lambda"] > 0 and cost["per_image_usd"]["step_functions"] > 0
    assert cost["total_per_image_usd"] > 0 and cost["largest"]["component"]
    assert level["usage"]["telemetry_records"] > 0 and level["usage"]["s3_bytes_per_study"]["incoming"] > 0
    assert level["floor"]["available"] and level["floor"]["images"] == 4 and 0 < level["floor"]["pipeline_fraction"]
    assert [t["name"] for t in level["targets"]] == ["p95 latency", "throughput", "cost per image", "success"]
    assert len(level["timeline"]) == 4 and all(t["end_s"] > t["upload_s"] >= 0 for t in level["timeline"])
    # measured on the embedded stack: CPU of every process, requests by origin and operation
    cpu = level["cpu_s_per_study"]
    assert cpu["emulator"] > 0 and cpu["model-server"] > 0 and cpu["bench-client"] > 0
    assert {"lambda:radstream-prepare-tensors", "lambda:radstream-run-inference"} <= set(cpu)
    assert cpu["total"] == pytest.approx(sum(v for role, v in cpu.items() if role != "total"), abs=0.001)
    requests = level["requests"]
    assert requests["by_origin_per_study"]["client"]["s3:PutObject"] == 2  # image, then sidecar
    assert requests["by_origin_per_study"]["lambda"]["s3:GetObject"] >= 1  # the handlers read what the client wrote
    assert requests["all_origins_per_study"]["total"] == pytest.approx(
        sum(n for ops in requests["by_origin_per_study"].values() for n in ops.values()), abs=0.05)
    # the pipeline's own: the uploads kept, the benchmark's polling (DescribeExecution) left out
    assert requests["available"] and requests["by_operation"]["s3"]["PutObject"] >= 2 * 4
    assert "DescribeExecution" not in requests["by_operation"].get("states", {})
    assert level["cost"]["per_image_usd"]["s3_requests"] > 0


def test_bench_levels_are_compared_with_the_first(embedded_stack, capsys):
    assert cli(embedded_stack, "bench", "--num-studies", "3", "--concurrent", "1,2", "--json", "--no-floor") == 0
    levels = json.loads(capsys.readouterr().out)["levels"]
    assert [level["concurrency"] for level in levels] == [1, 2]
    for level in levels:
        assert level["studies"] == level["succeeded"] == 3
        # every study runs at least the five stages plus the trigger
        assert level["usage"]["lambda_invocations"] >= 6 * 3 and level["usage"]["state_transitions"] >= 6 * 3
        assert level["floor"] == {"available": False, "reason": "skipped (--no-floor)"}


def test_bench_prints_tables_and_the_pricing_source(embedded_stack, capsys):
    assert cli(embedded_stack, "bench", "--num-studies", "2", "--concurrent", "1", "--no-floor") == 0
    printed = capsys.readouterr().out
    for heading in ("per stage", "cost per image", "largest share", "targets", "PASS", "TO BE CHECKED"):
        assert heading in printed, heading


def test_upload_paced_by_rate_counts_started_executions(embedded_stack, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    (images / "chest.png").write_bytes(synthetic.chest_png(5, (600, 600), bits=8))
    assert cli(embedded_stack, "upload", "--image_dir", str(images), "--num-images", "3", "--rate", "5") == 0
    err = capsys.readouterr().err
    assert "uploaded 3 of 3 studies (5/s)" in err and "executions started: 3" in err and "uploads refused: 0" in err


def test_upload_refuses_rate_and_concurrent_together(embedded_stack):
    import pytest

    with pytest.raises(SystemExit):
        cli(embedded_stack, "upload", "--rate", "1", "--concurrent", "2")
