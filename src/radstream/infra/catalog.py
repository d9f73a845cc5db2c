"""Create or update the Glue catalog, crawler and Athena workgroup of the definition (idempotent)."""

from __future__ import annotations

import logging
from typing import Any

from radstream.definition.catalog import (CRAWLER, DATABASE, TABLE_RECORD_TYPES, WORKGROUP, crawler_definition,
                                          database_input, same_table, table_input, workgroup_config)

log = logging.getLogger(__name__)


def ensure_catalog(glue_client: Any, bucket: str, *, database: str = DATABASE) -> dict[str, str]:
    """Create or update the database and both tables (idempotent). Returns {name: created|updated|unchanged}."""
    out: dict[str, str] = {}
    try:
        glue_client.get_database(Name=database)
        out[database] = "unchanged"
    except glue_client.exceptions.EntityNotFoundException:
        glue_client.create_database(DatabaseInput=dict(database_input(), Name=database))
        out[database] = "created"
    for table in TABLE_RECORD_TYPES:
        wanted = table_input(table, bucket)
        try:
            existing = glue_client.get_table(DatabaseName=database, Name=table)["Table"]
        except glue_client.exceptions.EntityNotFoundException:
            glue_client.create_table(DatabaseName=database, TableInput=wanted)
            out[table] = "created"
            continue
        if same_table(existing, wanted):
            out[table] = "unchanged"
        else:
            glue_client.update_table(DatabaseName=database, TableInput=wanted)
            out[table] = "updated"
    log.info("glue catalog: %s", out)
    return out


def ensure_crawler(glue_client: Any, role_arn: str, *, database: str = DATABASE) -> str:
    """Create or update the crawler (call on the ``aws`` target only: emulators do not run crawlers)."""
    definition = crawler_definition(role_arn, database=database)
    try:
        glue_client.get_crawler(Name=CRAWLER)
    except glue_client.exceptions.EntityNotFoundException:
        glue_client.create_crawler(**definition)
        return "created"
    glue_client.update_crawler(**definition)
    return "updated"


def ensure_workgroup(athena_client: Any, output_location: str, *, name: str = WORKGROUP) -> str:
    """Create the workgroup if missing, update it if its settings differ. Returns created|updated|unchanged."""
    cfg = workgroup_config(output_location)
    try:
        workgroup = athena_client.get_work_group(WorkGroup=name).get("WorkGroup")
    except athena_client.exceptions.InvalidRequestException:  # AWS: no such workgroup
        workgroup = None
    if not workgroup:  # moto answers an empty document instead of raising
        athena_client.create_work_group(Name=name, Configuration=cfg,
                                        Description="RadStream telemetry analytics")
        return "created"
    current = workgroup.get("Configuration", {})
    if (current.get("ResultConfiguration", {}).get("OutputLocation") == output_location
            and current.get("EnforceWorkGroupConfiguration") is True
            and current.get("BytesScannedCutoffPerQuery") == cfg.get("BytesScannedCutoffPerQuery")):
        return "unchanged"
    updates = {
        "ResultConfigurationUpdates": {"OutputLocation": output_location,
                                       "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}},
        "EnforceWorkGroupConfiguration": True,
        "PublishCloudWatchMetricsEnabled": True,
    }
    if "BytesScannedCutoffPerQuery" in cfg:
        updates["BytesScannedCutoffPerQuery"] = cfg["BytesScannedCutoffPerQuery"]
    athena_client.update_work_group(WorkGroup=name, ConfigurationUpdates=updates)
    return "updated"
