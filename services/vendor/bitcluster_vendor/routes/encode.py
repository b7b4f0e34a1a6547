"""``POST /v1/encode``: images in (JSON or multipart), packed codes out (JSON or octet-stream)."""

from __future__ import annotations

import base64
from functools import partial
from typing import Union

import anyio
import numpy as np
import onnxruntime as ort
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from bitcluster.core.channels import CONVERSION_INTO
from bitcluster.core.entropy_coding import encode_codes
from bitcluster.core.wire import ENTROPY_CODED, JSON, MULTIPART_FORM, OCTET_STREAM, code_headers, conversion_headers
from bitcluster.serving.errors import ServiceError, describe_validation_errors
from bitcluster.serving.limits import check_batch_size
from bitcluster.serving.negotiation import negotiate
from bitcluster.serving.runtime import WorkSlots, run_with_deadline

from bitcluster_vendor.config import Settings
from bitcluster_vendor.deps import get_encoder, get_settings, get_work_slots
from bitcluster_vendor.encoder import Encoder
from bitcluster_vendor.images import (ImageLimits, ImageSource, check_json_numbers, check_model_input,
                                      images_to_input, pixels_to_batch)
from bitcluster_vendor.openapi import REQUEST_BODY, RESPONSES, ROUTE
from bitcluster_vendor.schemas import EncodeRequest, EncodeResponse

router = APIRouter(tags=["encode"])


def answer_type(accept: str | None, encoder: Encoder) -> str:
    """JSON, octet-stream or entropy-coded, as ``Accept`` asks; 406 before any work when none fits."""
    offered = [JSON, OCTET_STREAM] + ([ENTROPY_CODED] if encoder.model.entropy_model is not None else [])
    try:
        return negotiate(accept, offered)
    except ServiceError:
        if ENTROPY_CODED in (accept or ""):
            raise ServiceError(406, "format_unavailable", f"model {encoder.model.manifest.model_id} was exported "
                                                          f"without the entropy model; ask for {OCTET_STREAM}") from None
        raise


# What a request carries before decoding: the parsed JSON body, or multipart ``(name, file bytes)`` pairs.
Payload = Union[EncodeRequest, list[ImageSource]]
# Multipart parts parsed before the batch check refuses the form: one more than a batch may hold.
EXTRA_PARTS = 1


def parse_json(body: bytes) -> EncodeRequest:
    try:
        return EncodeRequest.model_validate_json(body)
    except ValidationError as e:
        raise ServiceError(422, *describe_validation_errors(e.errors())) from None


async def read_payload(request: Request, settings: Settings) -> Payload:
    """Read and parse the body, and check the batch size; decoding is left to the worker thread.

    JSON is parsed off the event loop too: a 32 MiB body of pixels takes a while. Its pixel values
    are counted before it is parsed, and a form stops being parsed one part past the batch size.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(JSON):
        body = await request.body()
        check_json_numbers(body, settings.max_json_pixels)
        payload = await anyio.to_thread.run_sync(parse_json, body)
        count = len(payload.images if payload.images is not None else payload.pixels)
        check_batch_size(count, settings.max_batch, "images")
        return payload
    if content_type.startswith(MULTIPART_FORM):
        what = "files (multipart parts named 'files')"
        try:
            form = await request.form(max_files=settings.max_batch + EXTRA_PARTS, max_fields=16)
        except HTTPException as e:
            if "Too many files" in str(e.detail):  # Starlette's words for max_files
                check_batch_size(settings.max_batch + EXTRA_PARTS + 1, settings.max_batch, f"or more {what}")
            raise
        try:
            parts = form.getlist("files")
            check_batch_size(len(parts), settings.max_batch, what)
            if not all(isinstance(p, UploadFile) for p in parts):
                raise ServiceError(422, "invalid_request", "every 'files' part must be a file upload")
            return [(f"files[{i}]", await p.read()) for i, p in enumerate(parts)]
        finally:
            await form.close()
    raise ServiceError(415, "unsupported_media_type",
                       f"send {JSON} ({{'images': [base64...]}} or {{'pixels': [[[...]]]}}) "
                       f"or {MULTIPART_FORM} with parts named 'files'")


def encode_payload(encoder: Encoder, payload: Payload, limits: ImageLimits, run_options: ort.RunOptions, *,
                   resize: bool = False) -> tuple[np.ndarray, int]:
    """Decode, preprocess and encode: the CPU-heavy part, run in a worker thread.

    Returns the packed codes and how many images were converted between grey and RGB to match the model.
    """
    if isinstance(payload, EncodeRequest):
        if payload.pixels is not None:
            batch = pixels_to_batch(payload.pixels, limits)
            check_model_input(len(batch), encoder.preprocessing, limits.max_request_pixels)
            converted = len(batch) if encoder.preprocessing.conversion(batch) else 0
            return encoder.encode(batch, run_options, resize=resize), converted
        payload = [(f"images[{i}]", text) for i, text in enumerate(payload.images)]
    x, converted = images_to_input(payload, encoder.preprocessing, limits, resize, run_options)
    return encoder.run(x, run_options), converted


@router.post(
    ROUTE, response_model=EncodeResponse, summary="Encode images into packed binary codes",
    responses=RESPONSES, openapi_extra={"requestBody": REQUEST_BODY},
)
async def encode(request: Request, encoder: Encoder = Depends(get_encoder),
                 settings: Settings = Depends(get_settings), slots: WorkSlots = Depends(get_work_slots),
                 resize: bool = Query(False, description="Also resize images whose aspect ratio differs from the "
                                                         "model's, stretching them (by default they are refused "
                                                         "with 422); a change of scale alone is always resized.")):
    """Preprocess the images exactly as in training and run the encoder.

    Send JSON ``{"images": [base64 PNG/JPEG, ...]}`` or ``{"pixels": [[[...]]]}``, or a multipart
    form with one ``files`` part per image. Codes come back as base64 strings in JSON, or
    concatenated raw bytes with ``Accept: application/octet-stream``. Images of the other kind
    than the model's (grey for an RGB model, RGB for a grey one) are converted, and the answer
    says how many (``converted``, ``conversion``; headers on binary answers).
    """
    answer = answer_type(request.headers.get("accept"), encoder)
    payload = await read_payload(request, settings)
    p = encoder.preprocessing
    limits = ImageLimits(settings.image_pixel_cap(p.height * p.width), settings.max_request_pixels)
    work = partial(encode_payload, encoder, payload, limits, resize=resize)
    packed, converted = await run_with_deadline(work, settings.request_timeout_s, slots)
    request.app.state.metrics.observe_batch(ROUTE, len(packed))
    manifest = encoder.model.manifest
    conversion = CONVERSION_INTO[p.channels] if converted else None
    if conversion is not None:
        request.app.state.metrics.observe_conversion(ROUTE, conversion, converted)
    if answer != JSON:
        headers = {**code_headers(manifest.model_id, manifest.bits, len(packed)),
                   **conversion_headers(converted, conversion)}
        if answer == OCTET_STREAM:
            return Response(packed.tobytes(), media_type=OCTET_STREAM, headers=headers)
        stream = await anyio.to_thread.run_sync(encode_codes, packed, manifest.bits, *encoder.model.entropy_model)
        return Response(stream, media_type=ENTROPY_CODED, headers=headers)
    return EncodeResponse(model_id=manifest.model_id, bits=manifest.bits, count=len(packed),
                          codes=[base64.b64encode(row.tobytes()).decode("ascii") for row in packed],
                          converted=converted, conversion=conversion)
