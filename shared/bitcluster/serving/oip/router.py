"""The Open Inference Protocol (KServe v2) routes, built once for any served model.

A service gives an :class:`OIPModel` -- the model's name, its declared tensors and an infer
function over numpy arrays -- and gets ``/v2/health/{live,ready}``, ``/v2`` (server metadata),
``/v2/models/{name}[/versions/{version}]`` (model metadata), ``.../ready`` and ``.../infer``.
The model's version is its ``model_id``: a request for another version is refused, as ``/v1``
refuses codes declared with another ``X-Model-Id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Awaitable, Callable

import anyio
import numpy as np
import onnxruntime as ort
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from bitcluster import __version__
from bitcluster.serving.deps import ServedModel, served_model
from bitcluster.serving.errors import ServiceError
from bitcluster.serving.limits import check_batch_size
from bitcluster.serving.oip.protocol import (EXTENSIONS, HEADER_LENGTH, InferenceRequest, ProtocolError,
                                             decode_inputs, encode_response, split_body, wanted_outputs)
from bitcluster.serving.oip.tensors import TensorError, TensorSpec
from bitcluster.serving.runtime import run_with_deadline

PLATFORM = "onnxruntime_onnx"


@dataclass(frozen=True)
class OIPModel:
    """What a service tells the protocol about its model.

    Parameters
    ----------
    name : the model's name in ``/v2/models/{name}``
    items : what the first (batch) dimension of the inputs counts, for messages ("images", "codes")
    inputs, outputs : the declared tensors of the loaded model (shapes come from its manifest)
    infer : ``(served, {input name: array}, [output names], run_options) -> {output name: array}``,
        run in a worker thread; it raises the model layer's domain errors
    """

    name: str
    items: str
    inputs: Callable[[ServedModel], list[TensorSpec]]
    outputs: Callable[[ServedModel], list[TensorSpec]]
    infer: Callable[[ServedModel, dict[str, np.ndarray], list[str], ort.RunOptions], dict[str, np.ndarray]]


class Liveness(BaseModel):
    live: bool = True


class Readiness(BaseModel):
    ready: bool = True


class ModelReadiness(BaseModel):
    name: str
    ready: bool = True


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


_INFER_BODY = {"required": True, "content": {
    "application/json": {"schema": InferenceRequest.model_json_schema()},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary", "description":
                                            f"The JSON request, then the binary tensors; {HEADER_LENGTH} "
                                            "gives the length of the JSON part."}}}}
# Documented as {"error": {...}} by the app's defaults; on /v2 the body is {"error": "<message>"}.
_OIP_ERROR = {"content": {"application/json": {"schema": {
    "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {**_OIP_ERROR, "description": "Open Inference Protocol error"} for s in statuses}


def build_oip_router(model: OIPModel, server_name: str) -> APIRouter:
    """The protocol's routes for ``model``, served under the name ``server_name`` in ``GET /v2``."""
    router = APIRouter(tags=["open inference protocol"])

    def resolve(request: Request, model_name: str, model_version: str | None, mismatch_status: int) -> ServedModel:
        if model_name != model.name:
            raise ServiceError(404, "unknown_model", f"unknown model {model_name!r}: this service serves "
                                                     f"{model.name!r}")
        served = served_model(request)
        model_id = served.model.manifest.model_id
        if model_version not in (None, "", model_id):
            raise ServiceError(mismatch_status, "model_mismatch",
                               f"version {model_version!r} of {model.name!r} is not served here; the version is "
                               f"the model_id, and this service serves {model_id!r}")
        return served

    @router.get("/v2/health/live", response_model=Liveness, summary="The process is alive (open)")
    def live() -> Liveness:
        return Liveness()

    @router.get("/v2/health/ready", response_model=Readiness, responses=_errors(503),
                summary="The model is loaded and verified (open)")
    def ready(request: Request) -> Readiness:
        served_model(request)
        return Readiness()

    @router.get("/v2", response_model=ServerMetadata, responses=_errors(401), summary="Server metadata")
    def server_metadata() -> ServerMetadata:
        return ServerMetadata(name=server_name, version=__version__, extensions=EXTENSIONS)

    async def metadata(request: Request, model_name: str, model_version: str | None) -> ModelMetadata:
        served = resolve(request, model_name, model_version, 404)
        return ModelMetadata(name=model.name, versions=[served.model.manifest.model_id], platform=PLATFORM,
                             inputs=[TensorMetadata(**t.metadata()) for t in model.inputs(served)],
                             outputs=[TensorMetadata(**t.metadata()) for t in model.outputs(served)])

    async def model_ready(request: Request, model_name: str, model_version: str | None) -> ModelReadiness:
        resolve(request, model_name, model_version, 404)
        return ModelReadiness(name=model.name)

    async def infer(request: Request, model_name: str, model_version: str | None) -> Response:
        served = resolve(request, model_name, model_version, 409)
        if request.headers.get("content-encoding", "identity") != "identity":
            raise ServiceError(415, "unsupported_media_type", "compressed requests are not accepted; "
                                                              "send the body uncompressed")
        body = await request.body()
        inputs, outputs = model.inputs(served), model.outputs(served)
        try:
            parsed, binary = await anyio.to_thread.run_sync(split_body, body, request.headers.get(HEADER_LENGTH))
            batch = check_signature(parsed, inputs)
            check_batch_size(batch, request.app.state.settings.max_batch, model.items)
            arrays = await anyio.to_thread.run_sync(decode_inputs, parsed, binary)
            wanted = wanted_outputs(parsed, [t.name for t in outputs])
        except (ProtocolError, TensorError) as e:
            raise ServiceError(400, "invalid_request", str(e)) from None
        results = await run_with_deadline(partial(model.infer, served, arrays, list(wanted)),
                                          request.app.state.settings.request_timeout_s)
        request.app.state.metrics.observe_batch(request.scope["route"].path, batch)
        header: dict[str, Any] = {"model_name": model.name, "model_version": served.model.manifest.model_id}
        if parsed.id is not None:
            header["id"] = parsed.id
        content, json_size = encode_response(header, {name: results[name] for name in wanted}, wanted)
        if json_size is None:
            return Response(content, media_type="application/json")
        return Response(content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(json_size)})

    for prefix, bind in (("/v2/models/{model_name}", _unversioned),
                         ("/v2/models/{model_name}/versions/{model_version}", _versioned)):
        router.add_api_route(prefix, bind(metadata), methods=["GET"], response_model=ModelMetadata,
                             responses=_errors(401, 404, 503), summary="Model metadata: its tensors")
        router.add_api_route(prefix + "/ready", bind(model_ready), methods=["GET"], response_model=ModelReadiness,
                             responses=_errors(401, 404, 503), summary="The model is ready")
        router.add_api_route(prefix + "/infer", bind(infer), methods=["POST"], response_class=Response,
                             responses={200: {"description": "JSON, or JSON then binary tensors"},
                                        **_errors(400, 401, 404, 409, 413, 415, 422, 503, 504)},
                             openapi_extra={"requestBody": _INFER_BODY}, summary="Run the model")
    return router


Handler = Callable[[Request, str, "str | None"], Awaitable[Any]]


def _unversioned(handler: Handler) -> Callable[..., Awaitable[Any]]:
    async def route(request: Request, model_name: str) -> Any:
        return await handler(request, model_name, None)
    return route


def _versioned(handler: Handler) -> Callable[..., Awaitable[Any]]:
    async def route(request: Request, model_name: str, model_version: str) -> Any:
        return await handler(request, model_name, model_version)
    return route


def check_signature(request: InferenceRequest, inputs: list[TensorSpec]) -> int:
    """The request's inputs are exactly the model's, each of its declared datatype and shape;
    returns the batch size (their common first dimension)."""
    given = [t.name for t in request.inputs]
    if sorted(given) != sorted(t.name for t in inputs):
        raise TensorError(f"the model takes the inputs {[t.name for t in inputs]}, the request gives {given}")
    by_name = {t.name: t for t in request.inputs}
    for spec in inputs:
        spec.check(by_name[spec.name].datatype, by_name[spec.name].shape)
    batches = {by_name[spec.name].shape[0] for spec in inputs}
    if len(batches) != 1:
        raise TensorError("every input must have the same batch size (first dimension)")
    return batches.pop()
