-- RadStream analytics queries, written in Athena's (Trino) dialect.
--
-- This one file is what `radstream query` sends to Athena (workgroup radstream-analytics, database
-- radstream_analytics) and what the local engine translates to DuckDB with sqlglot, using the Glue
-- schema for types. Each query starts with a `-- name: <identifier>` line, then `-- ` description
-- lines, then one statement ending with `;`.
--
-- Tables (see radstream.analytics.glue_schema / radstream.telemetry.events):
--   telemetry_events     one row per stage invocation (component = stage, event_type
--                        stage_completed|stage_failed) and per study end (component = 'pipeline',
--                        event_type study_completed|study_failed)
--   performance_metrics  one row per study: processing_time_ms = end-to-end latency
-- Timestamps are ISO-8601 UTC strings; days and hours below are UTC.
--
-- Dialect rules kept here so both engines agree:
--   * bigint / bigint is integer division in Athena (truncates); columns named *_floor use it on
--     purpose. For fractions cast to double first.
--   * no decimal literals in arithmetic (Athena types 100.0 as DECIMAL, DuckDB as DOUBLE after
--     division); write doubles as 1e2 / 1.66667e-5 or CAST(... AS double).
--   * approx_percentile runs as exact nearest-rank quantile_disc locally.
--   * "timestamp" is quoted (it is also a type name).

-- name: total_events
-- Total number of telemetry events (stage and study events).
SELECT count(*) AS total_events
FROM telemetry_events;

-- name: average_processing_time
-- Studies recorded and their average / min / max end-to-end processing time.
SELECT count(*) AS studies,
       avg(processing_time_ms) AS avg_processing_time_ms,
       min(processing_time_ms) AS min_processing_time_ms,
       max(processing_time_ms) AS max_processing_time_ms
FROM performance_metrics;

-- name: events_by_component
-- Events per component, with the whole-number (floor) percentage of all events.
SELECT component,
       count(*) AS events,
       count(*) * 100 / sum(count(*)) OVER () AS pct_of_events_floor
FROM telemetry_events
GROUP BY component
ORDER BY events DESC, component;

-- name: daily_avg_inference_latency
-- Average latency of successful model inference calls per UTC day.
SELECT date(from_iso8601_timestamp("timestamp")) AS day,
       count(*) AS inferences,
       avg(processing_time_ms) AS avg_inference_ms
FROM telemetry_events
WHERE component = 'run_inference' AND status = 'SUCCESS'
GROUP BY date(from_iso8601_timestamp("timestamp"))
ORDER BY day;

-- name: top_5_slowest_studies
-- The five studies with the longest end-to-end processing time.
SELECT study_id, status, processing_time_ms, "timestamp"
FROM performance_metrics
ORDER BY processing_time_ms DESC, study_id
LIMIT 5;

-- name: error_events_over_time
-- Failure events (stage and study) per UTC hour, and how many studies they touched.
SELECT date_format(date_trunc('hour', from_iso8601_timestamp("timestamp")), '%Y-%m-%d %H:00') AS hour_utc,
       count(*) AS error_events,
       count(DISTINCT study_id) AS studies_affected
FROM telemetry_events
WHERE status = 'FAILURE'
GROUP BY date_format(date_trunc('hour', from_iso8601_timestamp("timestamp")), '%Y-%m-%d %H:00')
ORDER BY hour_utc;

-- name: event_type_distribution
-- Events per event type and their share of all events (percent, 2 decimals).
SELECT event_type,
       count(*) AS events,
       round(CAST(count(*) AS double) * 100 / sum(count(*)) OVER (), 2) AS pct_of_events
FROM telemetry_events
GROUP BY event_type
ORDER BY events DESC, event_type;

-- name: latency_percentiles_by_stage
-- p50 / p95 / p99 processing time of each pipeline stage (all invocations, success or failure).
SELECT component,
       count(*) AS invocations,
       approx_percentile(processing_time_ms, 0.5) AS p50_ms,
       approx_percentile(processing_time_ms, 0.95) AS p95_ms,
       approx_percentile(processing_time_ms, 0.99) AS p99_ms,
       max(processing_time_ms) AS max_ms
FROM telemetry_events
WHERE event_type IN ('stage_completed', 'stage_failed')
GROUP BY component
ORDER BY component;

-- name: throughput_per_minute
-- Studies finished per UTC minute (successes and failures), and the minute's mean latency.
SELECT date_format(date_trunc('minute', from_iso8601_timestamp("timestamp")), '%Y-%m-%d %H:%i') AS minute_utc,
       count(*) AS studies,
       count_if(status = 'SUCCESS') AS succeeded,
       avg(processing_time_ms) AS avg_latency_ms
FROM performance_metrics
GROUP BY date_format(date_trunc('minute', from_iso8601_timestamp("timestamp")), '%Y-%m-%d %H:%i')
ORDER BY minute_utc;

-- name: error_rate_by_error_code
-- Failed studies per error code: count, per-mille of all studies (floor) and percent (2 decimals).
WITH totals AS (SELECT count(*) AS studies FROM performance_metrics)
SELECT coalesce(p.error_code, 'UnknownError') AS error_code,
       count(*) AS failures,
       t.studies AS studies,
       count(*) * 1000 / t.studies AS per_mille_floor,
       round(CAST(count(*) AS double) * 100 / t.studies, 2) AS error_rate_pct
FROM performance_metrics p
CROSS JOIN totals t
WHERE p.status = 'FAILURE'
GROUP BY coalesce(p.error_code, 'UnknownError'), t.studies
ORDER BY failures DESC, error_code;

-- name: cold_start_share_and_cost
-- Per stage: share of cold starts and how much slower a cold invocation is than a warm one.
SELECT component,
       count(*) AS invocations,
       count_if(cold_start) AS cold_starts,
       round(CAST(count_if(cold_start) AS double) * 100 / count(*), 2) AS cold_start_pct,
       avg(CASE WHEN cold_start THEN processing_time_ms END) AS avg_cold_ms,
       avg(CASE WHEN NOT cold_start THEN processing_time_ms END) AS avg_warm_ms,
       avg(CASE WHEN cold_start THEN processing_time_ms END)
         - avg(CASE WHEN NOT cold_start THEN processing_time_ms END) AS cold_start_penalty_ms
FROM telemetry_events
WHERE event_type IN ('stage_completed', 'stage_failed')
GROUP BY component
ORDER BY component;

-- name: success_rate_per_day
-- Studies per UTC day with their success rate (whole percent, floor, and 2-decimal percent).
SELECT date(from_iso8601_timestamp("timestamp")) AS day,
       count(*) AS studies,
       count_if(status = 'SUCCESS') AS succeeded,
       count_if(status = 'FAILURE') AS failed,
       count_if(status = 'SUCCESS') * 100 / count(*) AS success_pct_floor,
       round(CAST(count_if(status = 'SUCCESS') AS double) * 100 / count(*), 2) AS success_rate_pct
FROM performance_metrics
GROUP BY date(from_iso8601_timestamp("timestamp"))
ORDER BY day;

-- name: studies_over_latency_target
-- Studies whose end-to-end latency exceeded the 5 s target, slowest first.
SELECT study_id, status, processing_time_ms,
       processing_time_ms - 5000 AS over_target_ms,
       "timestamp"
FROM performance_metrics
WHERE processing_time_ms > 5000
ORDER BY processing_time_ms DESC, study_id;

-- name: estimated_cost_per_image
-- Estimated serverless cost per image (study), us-east-1 list prices: Lambda compute
-- $1.66667e-5 per GB-second (configured memory, 1024 MB when unknown), Lambda requests $2e-7 each,
-- Step Functions standard $2.5e-5 per state transition (about one per stage invocation).
-- The model server (EKS) and storage are not included.
WITH per_study AS (
    SELECT study_id,
           count(*) AS invocations,
           sum(processing_time_ms / 1e3 * coalesce(memory_limit_mb, 1024) / 1024e0) AS gb_seconds
    FROM telemetry_events
    WHERE event_type IN ('stage_completed', 'stage_failed')
    GROUP BY study_id
)
SELECT count(*) AS images,
       sum(invocations) AS invocations,
       sum(gb_seconds) AS gb_seconds,
       sum(gb_seconds * 1.66667e-5 + invocations * 2e-7 + invocations * 2.5e-5) AS est_total_cost_usd,
       avg(gb_seconds * 1.66667e-5 + invocations * 2e-7 + invocations * 2.5e-5) AS est_cost_per_image_usd
FROM per_study;
