"""Prometheus metrics (served at ``/metrics``), one registry per server instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUEUE_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "radstream_model_requests", "Inference requests by model, version and HTTP status code",
            ["model", "version", "status"], registry=r)
        self.request_seconds = Histogram(
            "radstream_model_request_duration_seconds",
            "Inference request latency inside the server (parse, queue, compute, encode)",
            ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_seconds = Histogram(
            "radstream_model_queue_duration_seconds", "Time a request waited before its model call started",
            ["model"], buckets=QUEUE_BUCKETS, registry=r)
        self.compute_seconds = Histogram(
            "radstream_model_compute_duration_seconds", "Duration of one model call (one batch)",
            ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram(
            "radstream_model_batch_size", "Items (first-dimension rows) per model call",
            ["model"], buckets=BATCH_BUCKETS, registry=r)
        self.in_flight = Gauge(
            "radstream_model_requests_in_flight", "Inference requests being handled", ["model"], registry=r)
        self.http_requests = Counter(
            "radstream_http_requests", "HTTP requests by route and status code", ["route", "status"], registry=r)
