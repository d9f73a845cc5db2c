"""The Athena-dialect SQL shipped with RadStream (athena_queries.sql)."""
