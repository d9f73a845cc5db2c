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

