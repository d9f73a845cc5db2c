"""CPU per study by process and requests per study by operation, from two stack snapshots."""

from radstream.tooling.bench.usage import CLIENT_ROLE, UsageSnapshot, usage_per_study
from radstream.tooling.stack.emulator_admin import stats_delta


def snapshot(at, requests, processes, client_cpu_s):
    return UsageSnapshot({"at": at, "requests": requests, "processes": processes}, client_cpu_s)


BEFORE = snapshot(100.0, {"client": {"s3:PutObject": 10}, "lambda": {"kinesis:PutRecords": 5}},
                  [{"role": "emulator", "pid": 1, "cpu_s": 10.0},
                   {"role": "lambda:prepare", "pid": 2, "cpu_s": 1.0},
                   {"role": "model-server", "pid": 3, "cpu_s": 2.0}], client_cpu_s=0.5)
AFTER = snapshot(110.0, {"client": {"s3:PutObject": 14, "states:DescribeExecution": 6},
                         "lambda": {"kinesis:PutRecords": 5}, "stepfunctions": {"lambda:Invoke": 10}},
                 [{"role": "emulator", "pid": 1, "cpu_s": 11.0},
                  # the environment that was live before has been reaped; a new one took over
                  {"role": "lambda:prepare", "pid": None, "cpu_s": 1.2, "exited": True},
                  {"role": "lambda:prepare", "pid": 4, "cpu_s": 0.2},
                  {"role": "model-server", "pid": 3, "cpu_s": 2.4}], client_cpu_s=0.7)


def test_delta_counts_only_what_happened_between_the_snapshots():
    delta = stats_delta(BEFORE.served, AFTER.served)
    assert delta["requests"] == {"client": {"s3:PutObject": 4, "states:DescribeExecution": 6},
                                 "stepfunctions": {"lambda:Invoke": 10}}
    assert delta["cpu_s"] == {"emulator": 1.0, "lambda:prepare": 0.4, "model-server": 0.4}
    assert delta["seconds"] == 10.0


def test_usage_per_study_divides_by_the_studies_and_adds_the_client():
    usage = usage_per_study(BEFORE, AFTER, studies=2)
    assert usage["cpu_s_per_study"] == {"emulator": 0.5, "lambda:prepare": 0.2, "model-server": 0.2,
                                        CLIENT_ROLE: 0.1, "total": 1.0}
    assert usage["requests_per_study"] == {"lambda:Invoke": 5.0, "states:DescribeExecution": 3.0,
                                           "s3:PutObject": 2.0, "total": 10.0}
    assert usage["requests_per_study_by_origin"]["stepfunctions"] == {"lambda:Invoke": 5.0}


def test_no_snapshot_no_usage():
    assert usage_per_study(None, AFTER, 2) is None and usage_per_study(BEFORE, None, 2) is None
