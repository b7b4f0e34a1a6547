"""Prometheus metrics of one service, on its own registry (two apps in one process never collide).

* ``bitcluster_requests_total{service, route, method, status}`` -- every HTTP request, whoever answered
* ``bitcluster_request_seconds{service, route, status}`` -- latency histogram
* ``bitcluster_requests_in_flight{service}`` -- requests being handled now
* ``bitcluster_batch_size{service, route}`` -- images or codes per request
* ``bitcluster_items_processed_total{service, route, kind}`` -- images encoded (vendor, ``kind="images"``)
  or codes classified (consumer, ``kind="codes"``)
* ``bitcluster_novel_codes_total{service, route}`` -- codes flagged novel (consumer, when a request asks)
* ``bitcluster_images_converted_total{service, route, conversion}`` -- images converted between grey and
  RGB to match the model (vendor), by rule: ``grey_to_rgb`` or ``rgb_to_grey``
* ``bitcluster_model_info{service, model_id, method, bits, clusters, provider}`` -- the served model, 1
* ``process_*`` (CPU seconds, resident memory, open fds, start time), ``python_info``, ``python_gc_*``

``route`` is the route's template (``/v1/encode``, ``/v2/models/{model_name}/infer``), or
``unmatched``; ``method`` is a standard HTTP method or ``other``: a client cannot grow the label
set by inventing paths or methods.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info,
                               generate_latest)
from prometheus_client import gc_collector, platform_collector, process_collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bitcluster.core.manifest import ModelManifest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = tuple(float(2 ** i) for i in range(0, 17))  # 1 .. 65536
# Methods counted under their own name; any other token a client sends is counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
# What one item of a batch is, by service.
ITEM_KINDS = {"vendor": "images", "consumer": "codes"}


class ServiceMetrics:
    """The metrics of ``service`` ("vendor" or "consumer") and the registry that exposes them."""

    def __init__(self, service: str):
        self.service = service
        self.item_kind = ITEM_KINDS.get(service, "items")
        self.registry = CollectorRegistry(auto_describe=True)
        # What the default registry has: a dashboard built for any Python exporter works here too.
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        self.requests = Counter("bitcluster_requests", "HTTP requests handled.",
                                ["service", "route", "method", "status"], registry=self.registry)
        self.latency = Histogram("bitcluster_request_seconds", "Time from request to response.",
                                 ["service", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("bitcluster_requests_in_flight", "HTTP requests being handled.",
                               ["service"], registry=self.registry)
        self.batch_size = Histogram("bitcluster_batch_size", "Images or codes per request.",
                                    ["service", "route"], buckets=BATCH_BUCKETS, registry=self.registry)
        self.items = Counter("bitcluster_items_processed", "Images encoded (vendor) or codes classified (consumer).",
                             ["service", "route", "kind"], registry=self.registry)
        self.novel = Counter("bitcluster_novel_codes", "Codes flagged novel (less likely than the training codes' "
                             "rate quantile), counted when a request asks for novelty.",
                             ["service", "route"], registry=self.registry)
        self.converted = Counter("bitcluster_images_converted", "Images converted between grey and RGB to "
                                 "match the model's channels, by rule (grey_to_rgb, rgb_to_grey).",
                                 ["service", "route", "conversion"], registry=self.registry)
        self.model = Info("bitcluster_model", "The served model (the value is always 1).", registry=self.registry)
        self.in_flight_now = self.in_flight.labels(service)
        # The labelled children, looked up once per label set: ``labels()`` validates and locks on
        # every call, a few microseconds that a batch of one code would pay several times over.
        self._request_children: dict[tuple[str, str, str], tuple] = {}
        self._batch_children: dict[str, tuple] = {}

    def observe_request(self, route: str, method: str, status: str, seconds: float) -> None:
        """One HTTP request answered ``status`` on ``route`` (a route template) after ``seconds``."""
        if method not in HTTP_METHODS:
            method = "other"
        children = self._request_children.get((route, method, status))
        if children is None:
            children = (self.requests.labels(self.service, route, method, status),
                        self.latency.labels(self.service, route, status))
            self._request_children[(route, method, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_batch(self, route: str, size: int) -> None:
        """A batch of ``size`` images or codes went through the model on ``route`` (a route template)."""
        children = self._batch_children.get(route)
        if children is None:
            children = (self.batch_size.labels(self.service, route),
                        self.items.labels(self.service, route, self.item_kind))
            self._batch_children[route] = children
        children[0].observe(size)
        children[1].inc(size)

    def observe_novel(self, route: str, count: int) -> None:
        """``count`` codes of a batch on ``route`` were flagged novel."""
        self.novel.labels(self.service, route).inc(count)

    def observe_conversion(self, route: str, conversion: str, count: int) -> None:
        """``count`` images of a batch on ``route`` were converted by ``conversion`` (a rule of
        :mod:`bitcluster.core.channels`)."""
        self.converted.labels(self.service, route, conversion).inc(count)

    def set_model_info(self, manifest: ModelManifest, provider: str) -> None:
        self.model.info({"service": self.service, "model_id": manifest.model_id, "method": manifest.method,
                         "bits": str(manifest.bits), "clusters": str(manifest.clusters), "provider": provider})

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
        in_flight = self.metrics.in_flight_now

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_flight.inc()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            in_flight.dec()
            self.metrics.observe_request(self._route(scope), scope["method"], str(status), time.perf_counter() - start)


router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
