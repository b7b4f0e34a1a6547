"""``POST /v1/encode``: images in (JSON or multipart), packed codes out (JSON or octet-stream)."""

from __future__ import annotations

import base64
from functools import partial
from typing import Union

import anyio
import numpy as np
import onnxruntime as ort
from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from bitcluster.core.entropy_coding import MEDIA_TYPE as ENTROPY_CODED
from bitcluster.core.entropy_coding import encode_codes
from bitcluster.serving.errors import ServiceError, describe_validation_errors, error_responses
from bitcluster.serving.limits import check_batch_size
from bitcluster.serving.runtime import run_with_deadline

from bitcluster_vendor.config import Settings
from bitcluster_vendor.deps import get_encoder, get_settings
from bitcluster_vendor.encoder import Encoder
from bitcluster_vendor.images import decode_base64, decode_image, pixels_to_batch
from bitcluster_vendor.schemas import EncodeRequest, EncodeResponse

ROUTE = "/v1/encode"
OCTET = "application/octet-stream"

router = APIRouter(tags=["encode"])

_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": EncodeRequest.model_json_schema()},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["files"],
            "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                     "description": "PNG or JPEG files, one part each, named 'files'."}}}},
    },
}
_OCTET_RESPONSE = {
    "description": "With 'Accept: application/octet-stream': the packed codes concatenated, ceil(D/8) bytes each, "
                   "with headers X-Model-Id, X-Code-Bits and X-Count. With 'Accept: "
                   "application/x-bitcluster-entropy-coded': the batch entropy-coded under the model's BMM "
                   "(fewer bytes for batches; see bitcluster.core.entropy_coding), same headers.",
    "content": {OCTET: {"schema": {"type": "string", "format": "binary"}},
                ENTROPY_CODED: {"schema": {"type": "string", "format": "binary"}}},
}


def preferred_binary(accept: str) -> str | None:
    """The binary code format ``Accept`` asks for before application/json, or None for JSON."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            if float(q) == 0:
                continue  # q=0 means "not this one"
        except ValueError:
            continue
        if media in (OCTET, ENTROPY_CODED):
            return media
        if media in ("application/json", "application/*", "*/*"):
            return None
    return None


# What a request carries before decoding: the parsed JSON body, or multipart ``(name, file bytes)`` pairs.
Payload = Union[EncodeRequest, list[tuple[str, bytes]]]


def parse_json(body: bytes) -> EncodeRequest:
    try:
        return EncodeRequest.model_validate_json(body)
    except ValidationError as e:
        raise ServiceError(422, *describe_validation_errors(e.errors())) from None


async def read_payload(request: Request, settings: Settings) -> Payload:
    """Read and parse the body, and check the batch size; decoding is left to the worker thread.

    JSON is parsed off the event loop too: a 32 MiB body of pixels takes a while.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        payload = await anyio.to_thread.run_sync(parse_json, body)
        count = len(payload.images if payload.images is not None else payload.pixels)
        check_batch_size(count, settings.max_batch, "images")
        return payload
    if content_type.startswith("multipart/form-data"):
        # The body cap bounds the form as a whole; no separate limit on the number of parts.
        async with request.form(max_files=float("inf"), max_fields=16) as form:
            parts = form.getlist("files")
            check_batch_size(len(parts), settings.max_batch, "files (multipart parts named 'files')")
            if not all(isinstance(p, UploadFile) for p in parts):
                raise ServiceError(422, "invalid_request", "every 'files' part must be a file upload")
            return [(f"files[{i}]", await p.read()) for i, p in enumerate(parts)]
    raise ServiceError(415, "unsupported_media_type",
                       "send application/json ({'images': [base64...]} or {'pixels': [[[...]]]}) "
                       "or multipart/form-data with parts named 'files'")


def decode_payload(payload: Payload, max_pixels: int) -> np.ndarray | list[np.ndarray]:
    """An (N, H, W) pixel batch, or one (H, W) uint8 array per image file."""
    if isinstance(payload, EncodeRequest):
        if payload.pixels is not None:
            return pixels_to_batch(payload.pixels, max_pixels)
        payload = [(f"images[{i}]", decode_base64(text, f"images[{i}]")) for i, text in enumerate(payload.images)]
    return [decode_image(data, max_pixels, name) for name, data in payload]


def encode_payload(encoder: Encoder, payload: Payload, max_pixels: int, run_options: ort.RunOptions) -> np.ndarray:
    """Decode, preprocess and encode: the CPU-heavy part, run in a worker thread."""
    return encoder.encode(decode_payload(payload, max_pixels), run_options)


@router.post(
    ROUTE, response_model=EncodeResponse, summary="Encode images into packed binary codes",
    responses={200: _OCTET_RESPONSE, **error_responses(400, 401, 406, 413, 415, 422, 503, 504)},
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def encode(request: Request, encoder: Encoder = Depends(get_encoder),
                 settings: Settings = Depends(get_settings)):
    """Preprocess the images exactly as in training and run the encoder.

    Send JSON ``{"images": [base64 PNG/JPEG, ...]}`` or ``{"pixels": [[[...]]]}``, or a multipart
    form with one ``files`` part per image. Codes come back as base64 strings in JSON, or
    concatenated raw bytes with ``Accept: application/octet-stream``.
    """
    payload = await read_payload(request, settings)
    packed = await run_with_deadline(partial(encode_payload, encoder, payload, settings.max_image_pixels),
                                     settings.request_timeout_s)
    request.app.state.metrics.observe_batch(ROUTE, len(packed))
    manifest = encoder.model.manifest
    binary = preferred_binary(request.headers.get("accept", ""))
    if binary is not None:
        headers = {"X-Model-Id": manifest.model_id, "X-Code-Bits": str(manifest.bits), "X-Count": str(len(packed))}
        if binary == OCTET:
            return Response(packed.tobytes(), media_type=OCTET, headers=headers)
        if encoder.model.entropy_model is None:
            raise ServiceError(406, "format_unavailable", f"model {manifest.model_id} was exported without the "
                                                          "entropy model; ask for application/octet-stream")
        stream = await anyio.to_thread.run_sync(encode_codes, packed, manifest.bits, *encoder.model.entropy_model)
        return Response(stream, media_type=ENTROPY_CODED, headers=headers)
    return EncodeResponse(model_id=manifest.model_id, bits=manifest.bits, count=len(packed),
                          codes=[base64.b64encode(row.tobytes()).decode("ascii") for row in packed])
