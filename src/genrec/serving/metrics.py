"""Prometheus metrics of one app (its own registry, so several apps in a process stay apart):
requests by route and status, latency, batch sizes and queue depth, at GET /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Latency buckets (s) around the service's target (p99 <= 150 ms), with room on both sides.
LATENCY = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The instruments; ``queue_depth`` reads the batcher when scraped."""

    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "genrec_requests",
            "HTTP requests answered, by route and status code",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "genrec_request_seconds",
            "Time from request to response, by route",
            ["route"],
            buckets=LATENCY,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "genrec_batch_size",
            "Requests decoded together in one model call",
            buckets=BATCHES,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "genrec_queue_depth", "Requests waiting for a batch", registry=self.registry
        )
        self.queue_depth.set_function(queue_depth)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (``/v1/items/{item_id}``,
    not the id: bounded label values); paths no route matches count as ``unmatched``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
