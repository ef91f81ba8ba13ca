"""Prometheus HTTP metrics as a pure ASGI middleware.

- `http_request_duration_seconds{method,route,status}` (histogram)
- `http_requests_total{method,route,status}` (counter)
- `http_requests_in_flight` (gauge)

`route` is the matched route's template (`/api/chat`), never the raw path, so the label
set stays bounded; requests that match no route share `route="unmatched"`. The alert rules
in components/ai_app.py query these names.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LABELS = ("method", "route", "status")
# Chat calls wait for an LLM: buckets reach a minute; health checks land in the first ones.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED = "unmatched"


class HttpMetrics:
    """The three HTTP metrics in their own registry (one per app, so tests do not share state)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            LABELS,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route template and status.",
            LABELS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being served.", registry=self.registry
        )


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception before the response started is answered 500 by the server
        start = time.perf_counter()

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            self.metrics.in_flight.dec()
            labels = (scope["method"], route_template(scope), str(status))
            self.metrics.duration.labels(*labels).observe(time.perf_counter() - start)
            self.metrics.requests.labels(*labels).inc()
