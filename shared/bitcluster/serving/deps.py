"""Dependencies every route may take: the settings and the loaded model, both from ``app.state``."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from bitcluster.serving.errors import ServiceError
from bitcluster.serving.settings import ServiceSettings


def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


def served_model(request: Request) -> Any:
    """The model the lifespan loaded; 503 before it is loaded or once shutdown has begun."""
    model = getattr(request.app.state, "model", None)
    if model is None:
        raise ServiceError(503, "not_ready", "the model is not loaded (the service is starting or stopping); "
                                             "retry shortly", headers={"Retry-After": "1"})
    return model
