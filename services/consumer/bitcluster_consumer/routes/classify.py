"""``POST /v1/classify``: packed codes in (JSON or octet-stream), clusters out.

Every mismatch is refused, never guessed around: another model's codes (409), another code
length, padding bits set, or a body that is not a whole number of codes (422).
"""

from __future__ import annotations

import base64
import binascii
from functools import partial

import anyio
import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from bitcluster.core.codes import CodeFormatError, codes_from_bytes
from bitcluster.core.entropy_coding import MEDIA_TYPE as ENTROPY_CODED
from bitcluster.core.entropy_coding import decode_codes
from bitcluster.core.manifest import ModelManifest
from bitcluster.serving.errors import ServiceError, describe_validation_errors, error_responses
from bitcluster.serving.limits import check_batch_size
from bitcluster.serving.runtime import run_with_deadline

from bitcluster_consumer.classifier import Classifier
from bitcluster_consumer.config import Settings
from bitcluster_consumer.deps import get_classifier, get_settings
from bitcluster_consumer.schemas import ClassifyRequest, ClassifyResponse

ROUTE = "/v1/classify"
OCTET = "application/octet-stream"

router = APIRouter(tags=["classify"])

_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": ClassifyRequest.model_json_schema()},
        OCTET: {"schema": {"type": "string", "format": "binary",
                           "description": "Packed codes concatenated, ceil(D/8) bytes each. Headers: X-Model-Id "
                                          "and X-Code-Bits (required), X-Count (optional, checked)."}},
        ENTROPY_CODED: {"schema": {"type": "string", "format": "binary",
                                   "description": "A batch entropy-coded by the vendor (Accept: "
                                                  "application/x-bitcluster-entropy-coded); same headers."}},
    },
}


def check_model_id(model_id: str, manifest: ModelManifest) -> None:
    if model_id != manifest.model_id:
        raise ServiceError(409, "model_mismatch",
                           f"these codes were made by model {model_id!r}, this consumer serves model "
                           f"{manifest.model_id!r}; encode with the vendor of the same export, or deploy it here")


def check_bits(bits: int, manifest: ModelManifest) -> None:
    if bits != manifest.bits:
        raise ServiceError(422, "bits_mismatch",
                           f"codes of {bits} bits were sent; model {manifest.model_id} takes {manifest.bits}-bit codes")


def _header_int(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ServiceError(422, "invalid_header", f"{name} must be an integer") from None


async def read_octet_stream(request: Request, manifest: ModelManifest, settings: Settings,
                            entropy_model=None) -> np.ndarray:
    model_id = request.headers.get("x-model-id")
    bits = _header_int(request, "X-Code-Bits")
    if model_id is None or bits is None:
        raise ServiceError(422, "missing_header", "an octet-stream body needs the headers X-Model-Id and "
                                                  "X-Code-Bits (as returned by the vendor)")
    check_model_id(model_id, manifest)
    check_bits(bits, manifest)
    body = await request.body()
    if entropy_model is not None:
        packed = await anyio.to_thread.run_sync(decode_entropy_coded, body, manifest, settings, entropy_model)
    else:
        check_batch_size(-(-len(body) // manifest.code_bytes), settings.max_batch, "codes")  # ceil: 0 only if empty
        try:
            packed = codes_from_bytes(body, bits)
        except CodeFormatError as e:
            raise ServiceError(422, "invalid_code_length", str(e)) from None
    declared = _header_int(request, "X-Count")
    if declared is not None and declared != len(packed):
        raise ServiceError(422, "count_mismatch", f"X-Count says {declared} codes, the body holds {len(packed)}")
    return packed


def decode_entropy_coded(body: bytes, manifest: ModelManifest, settings: Settings, entropy_model) -> np.ndarray:
    """Entropy-coded stream -> packed codes; the count in its header is checked before any decoding."""
    import struct

    from bitcluster.core.entropy_coding import HEADER

    if len(body) >= HEADER.size:
        check_batch_size(struct.unpack_from("<I", body, 4)[0], settings.max_batch, "codes")
    try:
        return decode_codes(body, manifest.bits, *entropy_model)
    except CodeFormatError as e:
        raise ServiceError(422, "invalid_entropy_coded", str(e)) from None


def read_json(body: bytes, manifest: ModelManifest, settings: Settings) -> tuple[np.ndarray, bool]:
    try:
        request = ClassifyRequest.model_validate_json(body)
    except ValidationError as e:
        raise ServiceError(422, *describe_validation_errors(e.errors())) from None
    check_model_id(request.model_id, manifest)
    if request.bits is not None:
        check_bits(request.bits, manifest)
    check_batch_size(len(request.codes), settings.max_batch, "codes")
    raw = []
    for i, text in enumerate(request.codes):
        try:
            code = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ServiceError(422, "invalid_base64", f"codes[{i}] is not valid base64") from None
        if len(code) != manifest.code_bytes:
            raise ServiceError(422, "invalid_code_length",
                               f"codes[{i}] has {len(code)} bytes; a {manifest.bits}-bit code has "
                               f"{manifest.code_bytes}")
        raw.append(code)
    return np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(len(raw), manifest.code_bytes), request.posteriors


@router.post(
    ROUTE, response_model=ClassifyResponse, response_model_exclude_none=True,
    summary="Assign packed binary codes to clusters",
    responses=error_responses(400, 401, 409, 413, 415, 422, 503, 504),
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def classify(request: Request,
                   posteriors: bool = Query(False, description="Also return the (N, K) posteriors."),
                   classifier: Classifier = Depends(get_classifier),
                   settings: Settings = Depends(get_settings)) -> ClassifyResponse:
    """Send JSON ``{"model_id", "codes": [base64...], "posteriors": false}``, or the codes as one
    ``application/octet-stream`` body with the headers ``X-Model-Id`` and ``X-Code-Bits``."""
    manifest = classifier.model.manifest
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(OCTET):
        packed = await read_octet_stream(request, manifest, settings)
    elif content_type.startswith(ENTROPY_CODED):
        if classifier.model.entropy_model is None:
            raise ServiceError(415, "format_unavailable", f"model {manifest.model_id} was exported without the "
                                                          "entropy model; send application/octet-stream")
        packed = await read_octet_stream(request, manifest, settings, classifier.model.entropy_model)
    elif content_type.startswith("application/json"):
        packed, asked = read_json(await request.body(), manifest, settings)
        posteriors = posteriors or asked
    else:
        raise ServiceError(415, "unsupported_media_type",
                           "send application/json ({'model_id', 'codes': [base64...]}) or "
                           "application/octet-stream with X-Model-Id and X-Code-Bits headers")
    clusters, probs = await run_with_deadline(partial(classifier.classify, packed, posteriors),
                                              settings.request_timeout_s)
    request.app.state.metrics.observe_batch(ROUTE, len(packed))
    return ClassifyResponse(model_id=manifest.model_id, clusters=clusters.tolist(),
                            posteriors=None if probs is None else probs.tolist())
