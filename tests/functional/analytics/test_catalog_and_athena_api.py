"""Catalog and Athena setup against moto's Glue and Athena APIs (Glue stores real data; Athena is canned)."""

from radstream.analytics.athena_engine import AthenaEngine
from radstream.analytics.translate import load_queries
from radstream.infra import catalog as catalog_setup
from radstream.infra.catalog import ensure_workgroup


def test_ensure_catalog_is_idempotent_and_repairs(aws):
    glue = aws("glue")
    db = "radstream_analytics_test"
    first = catalog_setup.ensure_catalog(glue, "bucket-a", database=db)
    assert first == {db: "created", "telemetry_events": "created", "performance_metrics": "created"}
    assert set(catalog_setup.ensure_catalog(glue, "bucket-a", database=db).values()) == {"unchanged"}
    moved = catalog_setup.ensure_catalog(glue, "bucket-b", database=db)
    assert moved["telemetry_events"] == "updated"
    t = glue.get_table(DatabaseName=db, Name="telemetry_events")["Table"]
    assert t["StorageDescriptor"]["Location"] == "s3://bucket-b/raw_telemetry/record_type=event/"
    assert t["Parameters"]["projection.hour.range"] == "0,23"


def test_against_moto_athena_api_shapes(aws):
    """moto's Athena is canned (no real results) but validates every request against the API model."""
    athena = aws("athena")
    assert ensure_workgroup(athena, "s3://radstream-telemetry-123456789012/athena-results/") == "created"
    assert ensure_workgroup(athena, "s3://radstream-telemetry-123456789012/athena-results/") == "unchanged"
    wg = athena.get_work_group(WorkGroup="radstream-analytics")["WorkGroup"]
    assert wg["Configuration"]["ResultConfiguration"]["OutputLocation"].endswith("/athena-results/")
    eng = AthenaEngine(athena, sleep=lambda s: None)
    res = eng.run(load_queries()["total_events"].sql, "total_events")
    assert res.engine == "athena" and res.extra["query_execution_id"]
    assert athena.get_query_execution(QueryExecutionId=res.extra["query_execution_id"])[
        "QueryExecution"]["QueryExecutionContext"]["Database"] == "radstream_analytics"
