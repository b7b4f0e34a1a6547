"""Assemble a service: settings, model loaded once in the lifespan, errors, limits, auth, metrics."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, Mapping, Sequence

from fastapi import APIRouter, FastAPI

from bitcluster import __version__
from bitcluster.core.manifest import ManifestError
from bitcluster.serving import metrics as metrics_module
from bitcluster.serving.auth import OPEN_PATHS, APIKeyMiddleware
from bitcluster.serving.direct_routes import DirectEndpoint, serve_directly
from bitcluster.serving.deps import ServedModel
from bitcluster.serving.docs import ContractPatch, install_openapi, install_swagger_ui
from bitcluster.serving.errors import install_error_handlers
from bitcluster.serving.limits import BodyLimitMiddleware
from bitcluster.serving.metrics import MetricsMiddleware, ServiceMetrics
from bitcluster.serving.oip import OIPErrorBodyMiddleware
from bitcluster.serving.settings import ServiceSettings

log = logging.getLogger("uvicorn.error.bitcluster")  # shown by uvicorn's handlers


def create_service_app(*, service: str, title: str, description: str, settings: ServiceSettings,
                       load_model: Callable[[ServiceSettings], ServedModel], routers: Sequence[APIRouter],
                       contract: ContractPatch | None = None,
                       direct: Mapping[str, DirectEndpoint] | None = None) -> FastAPI:
    """A FastAPI app whose lifespan loads ``load_model(settings)`` into ``app.state.model``.

    ``load_model`` returns the service's model object (see :class:`~bitcluster.serving.deps.ServedModel`);
    ``contract`` adds to the OpenAPI document what the loaded model says (:mod:`bitcluster.serving.docs`);
    ``direct`` maps a route's path to an endpoint that answers it ahead of FastAPI's routing
    (:mod:`bitcluster.serving.direct_routes`).

    A model that fails verification stops the startup (uvicorn then exits non-zero); it is never
    served half-checked.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            app.state.model = load_model(settings)
        except ManifestError as e:
            log.error("refusing to start %s: %s", service, e)
            raise
        loaded = app.state.model.model
        log.info("%s serving model %s (%d bits, %d clusters) on %s", service, loaded.manifest.model_id,
                 loaded.manifest.bits, loaded.manifest.clusters, loaded.provider)
        app.state.metrics.set_model_info(loaded.manifest, loaded.provider)
        log.log(*settings.key_policy())  # a warning when serving beyond loopback without a key
        yield
        app.state.model = None  # /readyz answers 503 while in-flight requests drain

    # /docs is served offline by install_swagger_ui; FastAPI's own pages load their assets from a CDN.
    app = FastAPI(title=title, description=description, version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.model = None
    app.state.metrics = ServiceMetrics(service)
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    serve_directly(app, routers, direct or {})
    app.include_router(metrics_module.router)
    install_swagger_ui(app)
    install_openapi(app, key_required=settings.api_key is not None, open_paths=OPEN_PATHS, contract=contract)

    # Added innermost first: metrics see everything, then auth, then the body cap.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    if settings.api_key is not None:
        app.add_middleware(APIKeyMiddleware, api_key=settings.api_key.get_secret_value())
    app.add_middleware(OIPErrorBodyMiddleware)  # every refusal above, on /v2, in the protocol's shape
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics,
                       known_paths=frozenset(getattr(r, "path", "") for r in app.routes))
    return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run ``app`` under uvicorn until SIGINT/SIGTERM, then drain in-flight requests."""
    import uvicorn

    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                timeout_graceful_shutdown=settings.shutdown_timeout_s)
