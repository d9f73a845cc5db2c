import pytest

from radstream.analytics.athena_engine import AthenaEngine
from radstream.analytics.errors import AthenaQueryFailedError, AthenaQueryTimeoutError


class FakeAthena:
    def __init__(self, states, pages):
        self.states = list(states)
        self.pages = pages
        self.started = []
        self.stopped = []

    def start_query_execution(self, **kw):
        self.started.append(kw)
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId):
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"QueryExecution": {"Status": {"State": state, "StateChangeReason": "SYNTAX_ERROR: line 1"},
                                   "Statistics": {"DataScannedInBytes": 12345, "EngineExecutionTimeInMillis": 80}}}

    def stop_query_execution(self, QueryExecutionId):
        self.stopped.append(QueryExecutionId)

    def get_paginator(self, name):
        assert name == "get_query_results"
        fake = self

        class P:
            def paginate(self, **kw):
                return iter(fake.pages)
        return P()


META = {"ColumnInfo": [{"Name": "component", "Type": "varchar"}, {"Name": "n", "Type": "bigint"},
                       {"Name": "avg_ms", "Type": "double"}, {"Name": "cold", "Type": "boolean"}]}


def row(*vals):
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in vals]}


def test_polls_with_backoff_pages_and_types_results():
    pages = [{"ResultSet": {"ResultSetMetadata": META, "Rows": [row("component", "n", "avg_ms", "cold"),
                                                                 row("run_inference", "3", "12.5", "true")]}},
             {"ResultSet": {"ResultSetMetadata": META, "Rows": [row("store_results", "2", None, "false")]}}]
    client = FakeAthena(["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"], pages)
    sleeps = []
    eng = AthenaEngine(client, sleep=sleeps.append)
    res = eng.run("SELECT 1", "q")
    assert client.started[0]["WorkGroup"] == "radstream-analytics"
    assert client.started[0]["QueryExecutionContext"] == {"Database": "radstream_analytics"}
    assert sleeps == [0.2, 0.4, 0.8]
    assert res.columns == ["component", "n", "avg_ms", "cold"]
    assert res.rows == [["run_inference", 3, 12.5, True], ["store_results", 2, None, False]]
    assert res.bytes_scanned == 12345 and res.as_dict()["bytes_scanned"] == 12345


def test_failed_query_raises_with_reason():
    eng = AthenaEngine(FakeAthena(["FAILED"], []), sleep=lambda s: None)
    with pytest.raises(AthenaQueryFailedError, match="SYNTAX_ERROR"):
        eng.run("SELEC 1")


def test_timeout_cancels():
    client = FakeAthena(["RUNNING"], [])
    eng = AthenaEngine(client, sleep=lambda s: None, timeout_s=1.0)
    with pytest.raises(AthenaQueryTimeoutError):
        eng.run("SELECT 1")
    assert client.stopped == ["q-1"]
