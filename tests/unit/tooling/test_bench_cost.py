from radstream.tooling.bench.cost import LAMBDA_GB_SECOND_USD, LAMBDA_REQUEST_USD, STATE_TRANSITION_USD, Cost, lambda_usage


def test_lambda_usage_reads_report_lines():
    lines = [
        "REPORT RequestId: a\tDuration: 99.10 ms\tBilled Duration: 100 ms\tMemory Size: 1024 MB\tMax Memory Used: 80 MB",
        "REPORT RequestId: b\tDuration: 1.2 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\tMax Memory Used: 40 MB"
        "\tInit Duration: 300.00 ms",
        "START RequestId: c Version: $LATEST",
    ]
    invocations, gb_seconds = lambda_usage(lines)
    assert invocations == 2
    assert abs(gb_seconds - (0.1 * 1.0 + 0.002 * 0.25)) < 1e-12


def test_cost_adds_compute_requests_and_transitions():
    cost = Cost(invocations=6, gb_seconds=2.0, transitions=7)
    assert cost.usd == 2.0 * LAMBDA_GB_SECOND_USD + 6 * LAMBDA_REQUEST_USD + 7 * STATE_TRANSITION_USD
