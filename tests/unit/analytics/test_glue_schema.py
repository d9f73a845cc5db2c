from radstream.definition import catalog as glue_schema
from radstream.deployed.telemetry.events import FIELDS


def test_table_definitions():
    t = glue_schema.table_input("performance_metrics", "bkt")
    sd = t["StorageDescriptor"]
    assert sd["Location"] == "s3://bkt/raw_telemetry/record_type=performance/"
    assert [c["Name"] for c in sd["Columns"]] == list(FIELDS)
    assert [k["Name"] for k in t["PartitionKeys"]] == ["dt", "hour"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    p = t["Parameters"]
    assert p["projection.enabled"] == "true" and p["projection.dt.format"] == "yyyy-MM-dd"
    assert p["storage.location.template"] == "s3://bkt/raw_telemetry/record_type=performance/dt=${dt}/hour=${hour}/"
    assert set(glue_schema.sql_schema()) == {"telemetry_events", "performance_metrics"}


def test_crawler_definition_targets_the_catalog_tables():
    d = glue_schema.crawler_definition("arn:aws:iam::1:role/crawler")
    assert d["Name"] == "radstream-telemetry-crawler"
    assert d["Targets"]["CatalogTargets"][0]["Tables"] == ["telemetry_events", "performance_metrics"]
    assert d["SchemaChangePolicy"]["DeleteBehavior"] == "LOG"


def test_same_table_detects_changes():
    want = glue_schema.table_input("telemetry_events", "b")
    assert glue_schema.same_table(want, want)
    other = glue_schema.table_input("telemetry_events", "c")
    assert not glue_schema.same_table(other, want)
