"""Prometheus metrics of one service, on its own registry (two apps in one process never collide).

* ``bitcluster_requests_total{service, route, method, status}``
* ``bitcluster_request_seconds{service, route}`` -- latency histogram
* ``bitcluster_batch_size{service, route}`` -- images or codes per request

``route`` is the route's template (``/v1/encode``), or ``unmatched``: a client cannot grow the
label set by inventing paths.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = tuple(float(2 ** i) for i in range(0, 17))  # 1 .. 65536


class ServiceMetrics:
    def __init__(self, service: str):
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("bitcluster_requests", "HTTP requests handled.",
                                ["service", "route", "method", "status"], registry=self.registry)
        self.latency = Histogram("bitcluster_request_seconds", "Time from request to response.",
                                 ["service", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("bitcluster_batch_size", "Images or codes per request.",
                                    ["service", "route"], buckets=BATCH_BUCKETS, registry=self.registry)

    def observe_batch(self, route: str, size: int) -> None:
        self.batch_size.labels(self.service, route).observe(size)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request, whatever answers it (auth, limits, routes, errors)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, known_paths: frozenset[str]):
        self.app = app
        self.metrics = metrics
        self.known_paths = known_paths

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None and getattr(route, "path", None):
            return route.path
        return scope["path"] if scope["path"] in self.known_paths else "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = self._route(scope)
            self.metrics.requests.labels(self.metrics.service, route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(self.metrics.service, route).observe(time.perf_counter() - start)


router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
