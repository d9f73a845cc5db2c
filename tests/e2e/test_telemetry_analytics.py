"""After studies run through the embedded pipeline, the analytics see exactly those studies."""

import argparse
import io
import json
import time
import uuid

from radstream.tooling import query_command as cli
from radstream.analytics.duckdb_engine import DuckDBEngine
from radstream.tooling.stack.emulator_admin import flush_telemetry as request_flush
from radstream.tooling import synthetic_images as synthetic

STAGES = ["validate_metadata", "prepare_tensors", "run_inference", "store_results", "send_telemetry"]


def _wait_finished(stack, arn, timeout_s=120):
    sfn = stack.client("stepfunctions")
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            return status
        time.sleep(0.2)
    raise AssertionError(f"execution {arn} still running after {timeout_s} s")


def test_queries_show_the_studies_just_processed(embedded_stack):
    run = uuid.uuid4().hex[:8]
    ok_ids = [f"tel-ok-{run}-{i}" for i in range(2)]
    bad_id = f"tel-bad-{run}"
    records = {}
    for i, sid in enumerate(ok_ids):
        records[sid] = embedded_stack.submit(synthetic.chest_jpeg(i, (512, 512)),
                                             {"study_id": sid, "view": "PA", "timestamp": "2024-01-15T10:00:00Z"},
                                             filename="chest.jpg", study_id=sid)
    records[bad_id] = embedded_stack.submit(synthetic.chest_jpeg(9, (512, 512)),
                                            {"study_id": bad_id, "view": "SIDEWAYS", "timestamp": "yesterday"},
                                            filename="chest.jpg", study_id=bad_id)
    assert [records[s]["status"] for s in ok_ids] == ["SUCCEEDED", "SUCCEEDED"], records
    assert records[bad_id]["status"] == "FAILED"
    for rec in records.values():  # SendTelemetry runs after the terminal record is written
        _wait_finished(embedded_stack, rec["execution_arn"])

    assert request_flush(embedded_stack.endpoint_url) is not None, "emulator has no flush route"
    bucket = embedded_stack.names.telemetry_bucket
    engine = DuckDBEngine(f"s3://{bucket}/raw_telemetry", endpoint_url=embedded_stack.endpoint_url)
    ids = "', '".join(records)
    perf = engine.run(f"SELECT study_id, status, error_code, processing_time_ms FROM performance_metrics "
                      f"WHERE study_id IN ('{ids}') ORDER BY study_id").records()
    assert {p["study_id"]: p["status"] for p in perf} == {**{s: "SUCCESS" for s in ok_ids}, bad_id: "FAILURE"}
    assert all(p["processing_time_ms"] > 0 for p in perf)
    assert [p["error_code"] for p in perf if p["study_id"] == bad_id] == ["MetadataValidationError"]

    events = engine.run(f"SELECT study_id, component, event_type, status, error_code, cold_start, memory_used_mb "
                        f"FROM telemetry_events WHERE study_id IN ('{ids}')").records()
    for sid in ok_ids:
        stages = {e["component"] for e in events if e["study_id"] == sid and e["event_type"] == "stage_completed"}
        assert set(STAGES) <= stages, (sid, stages)
        assert any(e["event_type"] == "study_completed" for e in events if e["study_id"] == sid)
    failed = [e for e in events if e["study_id"] == bad_id and e["component"] == "validate_metadata"]
    assert [(e["status"], e["error_code"]) for e in failed] == [("FAILURE", "MetadataValidationError")]
    assert any(e["component"] == "record_failure" for e in events if e["study_id"] == bad_id)
    assert all(e["memory_used_mb"] > 0 for e in events if e["component"] != "pipeline")

    # `radstream query --all` equivalent: all 14 queries return real numbers covering these studies
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = io.StringIO()
    args = parser.parse_args(["--all", "--format", "json", "--target", "embedded"])
    args.state_dir = str(embedded_stack.embedded.state_dir)  # the test stack's port, as `radstream up` records it
    rc = cli.run(args, out)
    assert rc == 0
    by = {q["name"]: q["rows"] for q in json.loads(out.getvalue())["queries"]}
    assert len(by) == 14
    assert by["total_events"][0]["total_events"] >= len(events)
    assert by["average_processing_time"][0]["studies"] >= 3
    assert "MetadataValidationError" in {r["error_code"] for r in by["error_rate_by_error_code"]}
    assert {"run_inference", "prepare_tensors"} <= {r["component"] for r in by["latency_percentiles_by_stage"]}
    assert by["estimated_cost_per_image"][0]["est_cost_per_image_usd"] > 0
