"""``/healthz`` (alive), ``/readyz`` (model loaded and verified) and ``/v1/model``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from bitcluster.serving.deps import ServedModel, served_model
from bitcluster.serving.errors import error_responses
from bitcluster.serving.model import ModelInfo


class Liveness(BaseModel):
    status: Literal["alive"] = "alive"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    model_id: str


def build_health_router() -> APIRouter:
    """The probes and the model description; identical for both services.

    The handlers are ``async``: FastAPI runs a plain ``def`` in a worker thread, a hop that would
    cost more than the handler itself.
    """
    router = APIRouter()

    @router.get("/healthz", response_model=Liveness, tags=["operations"], summary="The process is alive")
    async def healthz() -> Liveness:
        return Liveness()

    @router.get("/readyz", response_model=Readiness, tags=["operations"], responses=error_responses(503),
                summary="The model is loaded and verified")
    async def readyz(served: ServedModel = Depends(served_model)) -> Readiness:
        return Readiness(model_id=served.model.manifest.model_id)

    @router.get("/v1/model", response_model=ModelInfo, tags=["model"], responses=error_responses(503),
                summary="The served model: id, code length, clusters, preprocessing, provider")
    async def model_info(served: ServedModel = Depends(served_model)) -> ModelInfo:
        return ModelInfo.of(served.model)

    return router
