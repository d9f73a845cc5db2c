"""The ``aws`` analytics engine: the same Athena-dialect SQL, sent to Athena as is.

Workgroup ``radstream-analytics``, database ``radstream_analytics``; results go to the workgroup's
output location (or ``output_location``). Polling backs off exponentially (0.2 s doubling to 2 s);
results are paged with ``get_query_results`` (1,000 rows a page, header row skipped) and typed from
the result metadata; ``DataScannedInBytes`` is reported with every result.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from radstream.definition.catalog import DATABASE, WORKGROUP

from .duckdb_engine import QueryResult
from .errors import AthenaQueryFailedError, AthenaQueryTimeoutError


def _convert(value: str | None, athena_type: str) -> Any:
    if value is None:
        return None
    t = athena_type.lower()
    try:
        if t in ("tinyint", "smallint", "integer", "int", "bigint"):
            return int(value)
        if t in ("double", "float", "real") or t.startswith("decimal"):
            return float(value)
        if t == "boolean":
            return value.lower() == "true"
    except ValueError:
        return value
    return value




class AthenaEngine:
    name = "athena"

    def __init__(self, athena_client: Any, *, workgroup: str = WORKGROUP, database: str = DATABASE,
                 output_location: str | None = None, timeout_s: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.client = athena_client
        self.workgroup = workgroup
        self.database = database
        self.output_location = output_location
        self.timeout_s = timeout_s
        self._sleep = sleep

    def start(self, sql: str) -> str:
        kwargs: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.workgroup,
                                  "QueryExecutionContext": {"Database": self.database}}
        if self.output_location:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.output_location}
        return self.client.start_query_execution(**kwargs)["QueryExecutionId"]

    def wait(self, qid: str) -> dict[str, Any]:
        delay, waited = 0.2, 0.0
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            state = execution["Status"]["State"]
            if state == "SUCCEEDED":
                return execution
            if state in ("FAILED", "CANCELLED"):
                reason = execution["Status"].get("StateChangeReason", "no reason given")
                raise AthenaQueryFailedError(f"Athena query {qid} {state}: {reason}")
            if waited >= self.timeout_s:
                self.client.stop_query_execution(QueryExecutionId=qid)
                raise AthenaQueryTimeoutError(f"Athena query {qid} still {state} after {self.timeout_s:.0f} s; "
                                              "cancelled (raise timeout_s or narrow the dt range)")
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)

    def results(self, qid: str) -> tuple[list[str], list[list[Any]]]:
        columns: list[str] = []
        types: list[str] = []
        rows: list[list[Any]] = []
        first = True
        for page in self.client.get_paginator("get_query_results").paginate(
                QueryExecutionId=qid, PaginationConfig={"PageSize": 1000}):
            rs = page["ResultSet"]
            if not columns:
                meta = rs.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [c["Name"] for c in meta]
                types = [c.get("Type", "varchar") for c in meta]
            data = rs.get("Rows", [])
            if first and data and columns and [d.get("VarCharValue") for d in data[0]["Data"]] == columns:
                data = data[1:]  # SELECT results repeat the header as the first row
            first = False
            for r in data:
                values = [d.get("VarCharValue") for d in r["Data"]]
                rows.append([_convert(v, t) for v, t in zip(values, types)])
        return columns, rows

    def run(self, sql: str, name: str = "adhoc") -> QueryResult:
        t0 = time.perf_counter()
        qid = self.start(sql)
        execution = self.wait(qid)
        columns, rows = self.results(qid)
        stats = execution.get("Statistics", {})
        return QueryResult(name, columns, rows, self.name, (time.perf_counter() - t0) * 1000.0, sql,
                           bytes_scanned=stats.get("DataScannedInBytes"),
                           extra={"query_execution_id": qid,
                                  "engine_execution_ms": stats.get("EngineExecutionTimeInMillis")})
