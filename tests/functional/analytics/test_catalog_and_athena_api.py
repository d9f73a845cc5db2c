"""The Athena engine against moto's Athena API (canned results, but every request checked against the API model)."""

from radstream.analytics.athena_engine import AthenaEngine
from radstream.analytics.translate import load_queries
from radstream.definition import catalog


def test_against_moto_athena_api_shapes(aws):
    """moto's Athena is canned (no real results) but validates every request against the API model."""
    athena = aws("athena")
    # template.yaml creates the workgroup on a deployment; here the engine needs one of that name
    athena.create_work_group(Name=catalog.WORKGROUP, Configuration={"ResultConfiguration": {
        "OutputLocation": "s3://radstream-telemetry-123456789012/athena-results/"}})
    eng = AthenaEngine(athena, sleep=lambda s: None)
    res = eng.run(load_queries()["total_events"].sql, "total_events")
    assert res.engine == "athena" and res.extra["query_execution_id"]
    assert athena.get_query_execution(QueryExecutionId=res.extra["query_execution_id"])[
        "QueryExecution"]["QueryExecutionContext"]["Database"] == "radstream_analytics"
