"""What every service's dependencies share: the served model from ``app.state``, 503 until it is loaded."""

from __future__ import annotations

from typing import Protocol

from fastapi import Request

from bitcluster.core.onnx_model import OnnxModel
from bitcluster.serving.errors import ServiceError


class ServedModel(Protocol):
    """What a service serves (the vendor's Encoder, the consumer's Classifier): a loaded ONNX half."""

    model: OnnxModel


def served_model(request: Request) -> ServedModel:
    """The model the lifespan loaded; 503 before it is loaded or once shutdown has begun."""
    model = getattr(request.app.state, "model", None)
    if model is None:
        raise ServiceError(503, "not_ready", "the model is not loaded (the service is starting or stopping); "
                                             "retry shortly", headers={"Retry-After": "1"})
    return model
