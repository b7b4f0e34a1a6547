"""``POST /v1/classify``: packed codes in (JSON, octet-stream or entropy-coded), clusters out.

Every mismatch is refused, never guessed around: another model's codes (409), another code
length, padding bits set, or a body that is not a whole number of codes (422). The classifier
raises domain errors for the model's own checks; :mod:`bitcluster.serving.errors` answers them.

The answer is JSON, or with ``Accept: application/octet-stream`` the clusters as little-endian
int32. Asked for (query or body), the JSON answer also holds ``posteriors``, ``log_likelihood``
(``log p(z)`` in nats) and ``novel`` (the log-likelihood below the training codes' ``rate`` quantile,
:mod:`bitcluster.core.novelty`); flagged codes are counted in ``bitcluster_novel_codes_total``.

A small batch costs the model less than a thread hop, so small batches run on the event loop rather
than in a worker thread (:data:`INLINE_WORK`), and the answer is written as bytes without a second
validation of what the route built itself.

The one route of either service served ahead of FastAPI's routing (:func:`classify_directly`):
solving its dependencies and parameters costs more than the posterior of a small batch and
the rest of the request together (``bench/classify_routing.py``, ``bench/results/classify_routing.md``).
The endpoint is declared as any other, and the OpenAPI document comes from its declarations.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from dataclasses import dataclass
from functools import partial
from typing import Annotated

import anyio
import numpy as np
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from bitcluster.core.codes import CodeFormatError, codes_from_bytes
from bitcluster.core.entropy_coding import HEADER, decode_codes
from bitcluster.core.manifest import ModelManifest
from bitcluster.core.wire import CODE_BITS_HEADER, COUNT_HEADER, ENTROPY_CODED, JSON, MODEL_ID_HEADER, \
    OCTET_STREAM
from bitcluster.serving.docs.patterns import base64_code_pattern
from bitcluster.serving.errors import ServiceError, describe_validation_errors
from bitcluster.serving.limits import check_batch_size
from bitcluster.serving.negotiation import negotiate
from bitcluster.serving.runtime import run_with_deadline

from bitcluster_consumer.classifier import Classifier
from bitcluster_consumer.config import Settings
from bitcluster_consumer.deps import ClassifierDep, SettingsDep, get_classifier, get_settings
from bitcluster_consumer.openapi import CLUSTERS_DTYPE, REQUEST_BODY, RESPONSES, ROUTE
from bitcluster_consumer.schemas import CODE_HEADER_NAMES, ClassifyQuery, ClassifyRequest, ClassifyResponse, \
    CodeHeaders

# Multiply-adds (codes x bits x clusters) up to which the posterior runs on the event loop: about a
# millisecond at most, less than the thread hop and deadline machinery it saves for small batches.
INLINE_WORK = 1 << 22
# JSON bodies up to this size are parsed on the event loop (a batch of one code is ~100 bytes);
# larger ones in a worker thread, so that a 32 MiB body does not stall every other request.
INLINE_JSON_BYTES = 64 * 1024

router = APIRouter(tags=["classify"])


@dataclass(frozen=True)
class Asked:
    """The outputs a request asks for beyond the clusters (query parameters or JSON body fields)."""

    posteriors: bool = False
    log_likelihood: bool = False
    novel: bool = False
    rate: float | None = None  # the novelty rate; None in a body that sends none

    @property
    def extra(self) -> tuple[str, ...]:
        """The classifier graph's outputs to run besides clusters (novelty is judged on the log-likelihood)."""
        return (("posteriors",) if self.posteriors else ()) + (("log_likelihood",) if self.log_likelihood
                                                                 or self.novel else ())

    def joined(self, other: "Asked") -> "Asked":
        """Flags asked either way; a rate sent both ways is ``other``'s (the body's)."""
        return Asked(self.posteriors or other.posteriors, self.log_likelihood or other.log_likelihood,
                     self.novel or other.novel, self.rate if other.rate is None else other.rate)

    def check(self, classifier: Classifier) -> None:
        """Refuse what the served model cannot answer (422) before any work."""
        model_id = classifier.model.manifest.model_id
        if "log_likelihood" in self.extra and "log_likelihood" not in classifier.outputs:
            raise ServiceError(422, "output_unavailable", f"model {model_id} was exported without the "
                                                          "log_likelihood output; re-export it to ask for it")
        if self.novel and classifier.novelty is None:
            raise ServiceError(422, "novelty_unavailable", f"model {model_id} was exported without the training "
                                                           "codes' scores (consumer/novelty.json); re-export it")


def check_code_headers(classifier: Classifier, model_id: str | None, bits: int | None) -> bool:
    """Check the origin headers sent, with any body; whether both came (a binary body needs them).

    A JSON body names its model in itself, but headers that are sent are still checked: the
    OpenAPI document declares them for the operation, not for one media type.
    """
    if model_id is not None or bits is not None:
        classifier.check_codes_origin(classifier.model.manifest.model_id if model_id is None else model_id, bits)
    return model_id is not None and bits is not None


async def read_binary(request: Request, classifier: Classifier, settings: Settings, entropy_coded: bool,
                      has_origin: bool) -> np.ndarray:
    """Packed codes (N, ceil(D/8)) from an octet-stream or entropy-coded body (headers checked before)."""
    if not has_origin:
        raise ServiceError(422, "missing_header", f"a binary body needs the headers {MODEL_ID_HEADER} and "
                                                  f"{CODE_BITS_HEADER} (as returned by the vendor)")
    manifest = classifier.model.manifest
    bits = manifest.bits
    body = await request.body()
    if entropy_coded:
        packed = await anyio.to_thread.run_sync(decode_entropy_coded, body, manifest, settings,
                                                classifier.model.entropy_model)
    else:
        check_batch_size(-(-len(body) // manifest.code_bytes), settings.max_batch, "codes")  # ceil: 0 only if empty
        try:
            packed = codes_from_bytes(body, bits)
        except CodeFormatError as e:
            raise ServiceError(422, "invalid_code_length", str(e)) from None
    return packed


def decode_entropy_coded(body: bytes, manifest: ModelManifest, settings: Settings, entropy_model) -> np.ndarray:
    """Entropy-coded stream -> packed codes; the count in its header is checked before any decoding."""
    if len(body) >= HEADER.size:
        check_batch_size(struct.unpack_from("<I", body, 4)[0], settings.max_batch, "codes")
    try:
        return decode_codes(body, manifest.bits, *entropy_model)
    except CodeFormatError as e:
        raise ServiceError(422, "invalid_entropy_coded", str(e)) from None


def read_json(body: bytes, classifier: Classifier, settings: Settings) -> tuple[np.ndarray, Asked]:
    """Packed codes (N, ceil(D/8)) and the outputs a JSON body asks for."""
    try:
        request = ClassifyRequest.model_validate_json(body)
    except ValidationError as e:
        raise ServiceError(422, *describe_validation_errors(e.errors())) from None
    classifier.check_codes_origin(request.model_id, request.bits)
    manifest = classifier.model.manifest
    check_batch_size(len(request.codes), settings.max_batch, "codes")
    pattern = code_pattern(manifest.bits)
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
        if not pattern.fullmatch(text):  # padding bits set, or base64 fill bits that encode nothing
            raise ServiceError(422, "invalid_codes", f"codes[{i}] has bits set past the {manifest.bits} bits of "
                                                     "a code (or is not canonical base64)")
        raw.append(code)
    asked = Asked(request.posteriors, request.log_likelihood, request.novel, request.rate)
    return np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(len(raw), manifest.code_bytes), asked


_patterns: dict[int, re.Pattern] = {}


def code_pattern(bits: int) -> re.Pattern:
    if bits not in _patterns:
        _patterns[bits] = re.compile(base64_code_pattern(bits))
    return _patterns[bits]


async def run_classifier(classifier: Classifier, packed: np.ndarray, extra: tuple[str, ...],
                         settings: Settings) -> dict[str, np.ndarray]:
    manifest = classifier.model.manifest
    if len(packed) * manifest.bits * manifest.clusters <= INLINE_WORK:
        return classifier.run(packed, extra)
    return await run_with_deadline(partial(classifier.run, packed, extra), settings.request_timeout_s)


def json_answer(model_id: str, outputs: dict[str, np.ndarray], asked: Asked) -> Response:
    # Written directly: FastAPI would validate and re-encode the response model element by element.
    answer = {"model_id": model_id, "clusters": outputs["clusters"].tolist()}
    if asked.posteriors:
        answer["posteriors"] = outputs["posteriors"].tolist()
    if asked.log_likelihood:
        answer["log_likelihood"] = outputs["log_likelihood"].tolist()
    if asked.novel:
        answer["novel"] = outputs["novel"].tolist()
    return Response(json.dumps(answer, separators=(",", ":")).encode(), media_type=JSON)


@router.post(
    ROUTE, response_model=ClassifyResponse, response_model_exclude_none=True,
    summary="Assign packed binary codes to clusters", responses=RESPONSES,
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def classify(request: Request, classifier: ClassifierDep, settings: SettingsDep,
                   query: Annotated[ClassifyQuery, Query()], headers: Annotated[CodeHeaders, Header()]) -> Response:
    """Send JSON ``{"model_id", "codes": [base64...], "posteriors": false}``, or the codes as one
    ``application/octet-stream`` body with the headers ``X-Model-Id`` and ``X-Code-Bits``."""
    # The body is read by hand: it is JSON (ClassifyRequest) or one of two binary formats.
    asked = Asked(query.posteriors, query.log_likelihood, query.novel, query.rate)
    manifest = classifier.model.manifest
    has_origin = check_code_headers(classifier, headers.model_id, headers.code_bits)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(OCTET_STREAM):
        packed = await read_binary(request, classifier, settings, False, has_origin)
    elif content_type.startswith(ENTROPY_CODED):
        if classifier.model.entropy_model is None:
            raise ServiceError(415, "format_unavailable", f"model {manifest.model_id} was exported without the "
                                                          f"entropy model; send {OCTET_STREAM}")
        packed = await read_binary(request, classifier, settings, True, has_origin)
    elif content_type.startswith(JSON):
        body = await request.body()
        if len(body) <= INLINE_JSON_BYTES:
            packed, in_body = read_json(body, classifier, settings)
        else:
            packed, in_body = await anyio.to_thread.run_sync(read_json, body, classifier, settings)
        asked = asked.joined(in_body)
    else:
        raise ServiceError(415, "unsupported_media_type",
                           f"send {JSON} ({{'model_id', 'codes': [base64...]}}) or {OCTET_STREAM} with "
                           f"{MODEL_ID_HEADER} and {CODE_BITS_HEADER} headers")
    if headers.count is not None and headers.count != len(packed):
        raise ServiceError(422, "count_mismatch",
                           f"{COUNT_HEADER} says {headers.count} codes, the body holds {len(packed)}")
    if asked.extra:
        asked.check(classifier)
    answer_type = negotiate(request.headers.get("accept"), [JSON] if asked.extra else [JSON, OCTET_STREAM])
    outputs = await run_classifier(classifier, packed, asked.extra, settings)
    clusters = outputs["clusters"]
    request.app.state.metrics.observe_batch(ROUTE, len(packed))
    if asked.novel:
        outputs["novel"] = classifier.novelty.is_novel(outputs["log_likelihood"], asked.rate)
        request.app.state.metrics.observe_novel(ROUTE, int(outputs["novel"].sum()))
    if answer_type == OCTET_STREAM:
        return Response(clusters.astype(CLUSTERS_DTYPE).tobytes(), media_type=OCTET_STREAM,
                        headers={MODEL_ID_HEADER: manifest.model_id, COUNT_HEADER: str(len(clusters))})
    return json_answer(manifest.model_id, outputs, asked)


async def classify_directly(request: Request) -> Response:
    """:func:`classify` ahead of FastAPI's routing: the same endpoint, its dependencies looked up and
    its parameters validated by the same models here, errors located as FastAPI locates them."""
    query = _validated(ClassifyQuery, dict(request.query_params), "query")
    headers = _validated(CodeHeaders, {name: value for name in CODE_HEADER_NAMES
                                       if (value := request.headers.get(name)) is not None}, "header")
    return await classify(request, await get_classifier(request), await get_settings(request), query, headers)


def _validated(model: type[BaseModel], values: dict[str, str], where: str) -> BaseModel:
    try:
        return model.model_validate(values)
    except ValidationError as e:
        raise RequestValidationError([{**error, "loc": (where, *error["loc"])} for error in e.errors()]) from None
