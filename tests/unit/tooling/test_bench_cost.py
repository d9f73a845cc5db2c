"""Cost per image from measured usage: each component from its own measured input and its price."""

import json

import pytest

from radstream.tooling.bench.cost import cost_per_image
from radstream.tooling.bench.pricing import load_pricing
from radstream.tooling.bench.benchmark import execution_durations
from radstream.tooling.bench.readback import Telemetry, Usage, parse_report
from radstream.tooling.errors import PricingError

REPORT = ("REPORT RequestId: a\tDuration: 99.10 ms\tBilled Duration: 100 ms\tMemory Size: 1024 MB\t"
          "Max Memory Used: 80 MB")


def test_report_lines_parse_with_and_without_init_duration():
    warm = parse_report("prepare-tensors", REPORT)
    assert (warm.duration_ms, warm.billed_ms, warm.memory_mb, warm.max_memory_mb, warm.init_ms) == (99.1, 100, 1024, 80, None)
    assert warm.gb_seconds == pytest.approx(0.1)
    cold = parse_report("x", REPORT.replace("80 MB", "80 MB\tInit Duration: 312.50 ms"))
    assert cold.init_ms == 312.5
    assert parse_report("x", "START RequestId: c Version: $LATEST") is None


def usage(**kw) -> Usage:
    base = dict(studies=10, window_s=5.0, invocations=[parse_report("p", REPORT)] * 20, log_bytes=2 * 1024 ** 3,
                log_events=100, state_transitions=70, s3_bytes_per_study={"incoming": 10 * 1024 ** 3},
                telemetry_records=80, telemetry_bytes=0, telemetry_firehose_billed_bytes=1024 ** 3,
                requests={"s3": {"PutObject": 1000, "GetObject": 10000}}, failed_studies=1)
    return Usage(**(base | kw))


def test_each_component_is_its_measured_input_times_its_price():
    pricing = load_pricing()
    p = pricing.usd
    cost = cost_per_image(usage(), pricing, images_per_hour=3600)
    per = cost.per_image
    assert per["lambda"] == pytest.approx((20 * 0.1 * p("lambda_gb_second") + 20 * p("lambda_request")) / 10)
    assert per["step_functions"] == pytest.approx(70 * p("sfn_standard_transition") / 10)
    assert per["s3_requests"] == pytest.approx((1000 * p("s3_standard_put_request") + 10000 * p("s3_standard_get_request")) / 10)
    assert per["s3_storage"] == pytest.approx(10 * p("s3_standard_gb_month") / 10)  # 1 month retention
    assert per["firehose"] == pytest.approx(p("firehose_gb_ingested") / 10)
    assert per["cloudwatch_logs"] == pytest.approx(2 * (p("cloudwatch_logs_gb_ingested") + p("cloudwatch_logs_gb_month")) / 10)
    assert per["model_server"] == pytest.approx(p("model_server_node_hour") / 3600)
    assert per["kinesis"] == pytest.approx(p("kinesis_shard_hour") / 3600 + 80 * p("kinesis_put_payload_unit") / 10)
    assert per["sns"] == pytest.approx(p("sns_publish") / 10)
    assert per["athena"] == pytest.approx(14 * 10 * 1024 ** 2 / 1024 ** 4 * p("athena_tb_scanned") / 10)  # 10 MB minimum
    doc = cost.as_dict()
    assert doc["total_per_image_usd"] == pytest.approx(sum(per.values()))
    assert doc["per_1000_images_usd"] == pytest.approx(1000 * doc["total_per_image_usd"])
    assert doc["largest"]["component"] == max(per, key=per.get)


def test_what_was_not_measured_is_none_and_named():
    doc = cost_per_image(usage(requests=None, requests_note="no counter here", state_transitions=None),
                         load_pricing(), images_per_hour=0).as_dict()
    assert set(doc["not_measured"]) == {"s3_requests", "step_functions", "model_server", "kinesis"}
    assert doc["notes"]["s3_requests"] == "no counter here"


def test_telemetry_not_delivered_yet_is_not_measured_rather_than_free():
    doc = cost_per_image(usage(telemetry_records=0, telemetry_firehose_billed_bytes=0), load_pricing(),
                         images_per_hour=3600).as_dict()
    assert {"kinesis", "firehose"} <= set(doc["not_measured"])
    assert "no telemetry delivered" in doc["notes"]["firehose"]


def test_express_workflows_bill_executions_and_duration_in_100ms_steps():
    pricing = load_pricing()
    doc = cost_per_image(usage(execution_durations_s=[0.25, 0.31]), pricing, images_per_hour=3600,
                         workflow_type="EXPRESS")
    expected = 2 * pricing.usd("sfn_express_request") + (0.3 + 0.4) * 64 / 1024 * pricing.usd("sfn_express_gb_second")
    assert doc.per_image["step_functions"] == pytest.approx(expected / 10)


def test_express_durations_not_delivered_yet_are_not_measured_rather_than_free():
    doc = cost_per_image(usage(execution_durations_s=None), load_pricing(), images_per_hour=3600,
                         workflow_type="EXPRESS").as_dict()
    assert "step_functions" in doc["not_measured"] and "not delivered yet" in doc["notes"]["step_functions"]


def test_express_durations_are_every_run_from_the_performance_telemetry():
    telemetry = Telemetry(performance_ms={"a": [250.0], "b": [310.0, 120.0], "refused": [0.0]})
    records = [{"study_id": "a", "executed": True}, {"study_id": "b", "executed": True},
               {"study_id": "refused", "executed": False}]  # the trigger refused it: no execution to bill
    assert execution_durations(records, telemetry, "EXPRESS") == [0.25, 0.31, 0.12]  # b ran twice: billed twice
    assert execution_durations(records, Telemetry(), "EXPRESS") is None  # not delivered yet
    standard = [{"started_at": 10.0, "stopped_at": 10.5}, {"started_at": None, "stopped_at": None}]
    assert execution_durations(standard, Telemetry(), "STANDARD") == [0.5]


def test_tensors_in_s3_express_one_zone_are_priced_as_such_and_nothing_else_is():
    pricing = load_pricing()
    stored = {"incoming": 3 * 1024 ** 3, "preprocessed": 1024 ** 3}
    standard = cost_per_image(usage(s3_bytes_per_study=stored), pricing, images_per_hour=3600)
    express = cost_per_image(usage(s3_bytes_per_study=stored), pricing, images_per_hour=3600,
                             tensor_storage="express-one-zone")
    assert standard.per_image["s3_storage"] == pytest.approx(4 * pricing.usd("s3_standard_gb_month") / 10)
    assert express.per_image["s3_storage"] == pytest.approx(
        (3 * pricing.usd("s3_standard_gb_month") + pricing.usd("s3_express_gb_month")) / 10)
    assert express.notes["s3_storage"].startswith("tensors in S3 Express One Zone")


def test_pricing_file_overrides_key_by_key_and_bad_files_are_named(tmp_path):
    override = tmp_path / "prices.json"
    override.write_text(json.dumps({"valid_as_of": "2030-01-01", "prices": {"lambda_request": {"usd": 1.0}}}))
    pricing = load_pricing(override)
    assert pricing.usd("lambda_request") == 1.0
    assert pricing.usd("lambda_gb_second") == load_pricing().usd("lambda_gb_second")
    assert pricing.summary()["valid_as_of"] == "2030-01-01"
    every = load_pricing().summary()
    assert every["to_be_checked"] and all(v["source"].startswith("https://aws.amazon.com/") and v["date"]
                                          for v in every["prices"].values())
    override.write_text(json.dumps({"prices": {"lambda_request": 1.0}}))
    with pytest.raises(PricingError, match="lambda_request"):
        load_pricing(override)
    with pytest.raises(PricingError, match="cannot read"):
        load_pricing(tmp_path / "missing.json")


def test_pipeline_requests_leave_out_the_benchmarks_polling_but_keep_the_uploads():
    from radstream.tooling.bench.readback import pipeline_requests

    before = {"requests": {"client": {"s3:PutObject": 4, "states:DescribeExecution": 9},
                           "lambda": {"s3:GetObject": 2}}}
    after = {"requests": {"client": {"s3:PutObject": 24, "states:DescribeExecution": 90, "s3:GetObject": 10},
                          "lambda": {"s3:GetObject": 22, "kinesis:PutRecords": 10},
                          "stepfunctions": {"lambda:Invoke": 50}, "emulator": {"s3:PutObject": 2}}}
    assert pipeline_requests(before, after) == {"s3": {"PutObject": 22, "GetObject": 20},
                                                "kinesis": {"PutRecords": 10}, "lambda": {"Invoke": 50}}
