"""The emulator's admin API as tooling reaches it (radstream.tooling.stack.emulator_admin)."""

from radstream.tooling.stack import emulator_admin


def test_stats_count_requests_by_origin_and_operation_and_cpu_by_process(embedded_stack):
    before = emulator_admin.stats(embedded_stack.endpoint_url)
    embedded_stack.client("s3").list_buckets()
    embedded_stack.client("s3").list_buckets()
    after = emulator_admin.stats(embedded_stack.endpoint_url)
    delta = emulator_admin.stats_delta(before, after)
    assert delta["requests"]["client"]["s3:ListBuckets"] == 2
    roles = {p["role"] for p in after["processes"]}
    assert {"emulator", "lambda-zygote"} <= roles
    assert all(p["cpu_s"] >= 0 for p in after["processes"])
    assert delta["cpu_s"]["emulator"] >= 0


def test_the_stack_manager_adds_the_model_server(embedded_stack):
    served = embedded_stack.embedded.served()
    model = [p for p in served["processes"] if p["role"] == "model-server"]
    assert len(model) == 1 and model[0]["cpu_s"] > 0
