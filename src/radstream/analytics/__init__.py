"""Analytics over the telemetry lake: the Athena-dialect queries, their DuckDB translation, and both engines."""
