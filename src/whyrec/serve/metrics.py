"""Prometheus metrics of the service (prometheus-client): requests, latencies and errors per
endpoint and HTTP method, explanation latency per method, event-store write latency and the slow
pool's occupancy.

Each app has its own registry (several apps can live in one process, as in the tests). Under
``whyrec serve --workers N`` the workers are separate processes: ``PROMETHEUS_MULTIPROC_DIR`` is
set by the CLI, and /metrics then aggregates every worker's files (prometheus-client's
multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.pool: Any = None
        self.requests = Counter(
            "whyrec_requests",
            "HTTP requests by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "whyrec_request_errors",
            "HTTP responses with a 4xx or 5xx status.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "whyrec_request_seconds",
            "Time inside the app per request.",
            ["endpoint", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.explain = Histogram(
            "whyrec_explain_seconds",
            "Time per explanation, by explanation method.",
            ["explanation_method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.store_writes = Histogram(
            "whyrec_event_store_write_seconds",
            "Time to commit one POST /events batch.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.slow = Gauge(
            "whyrec_slow_in_flight",
            "Slow explanations running or queued in this process's pool.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.slow.set_function(lambda: float(self.pool.in_flight) if self.pool is not None else 0.0)

    def request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint, method).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, method, str(status)).inc()

    def explained(self, method: str, seconds: float) -> None:
        self.explain.labels(method).observe(seconds)

    def stored(self, seconds: float) -> None:
        self.store_writes.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
