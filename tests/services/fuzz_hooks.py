"""Schemathesis hooks for tests/services/test_fuzz_openapi.py (loaded with SCHEMATHESIS_HOOKS=fuzz_hooks).

The services' OpenAPI documents say in JSON Schema all they can; a few facts only their
descriptions can say, and these hooks generate data that follows them, so that schema-valid
requests are valid requests:

* image files (base64 ``format: byte`` in JSON, ``format: binary`` parts in multipart) are real
  PNG and JPEG files, of the model's aspect ratio;
* a ``pixels`` batch is rectangular, of the model's aspect ratio;
* an octet-stream body is whole packed codes with their padding bits clear; an entropy-coded body
  is a stream the vendor could have written; a numeric ``X-Count`` is made the number of codes sent.

Everything else -- every header, bound and alternative -- comes from the documents as served.
The served model is named by ``BITCLUSTER_FUZZ_MODEL_DIR``.
"""

from __future__ import annotations

import base64
import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import schemathesis
from hypothesis import strategies as st

from bitcluster.core.codes import code_bytes, pack_codes
from bitcluster.core.entropy_coding import encode_codes
from bitcluster.core.manifest import read_half
from bitcluster.core.wire import CODE_BITS_HEADER, COUNT_HEADER, ENTROPY_CODED, MODEL_ID_HEADER, OCTET_STREAM


@lru_cache(maxsize=1)
def served():
    verified = read_half(Path(os.environ["BITCLUSTER_FUZZ_MODEL_DIR"]), "consumer")
    return verified.manifest, verified.entropy_model


def side() -> int:
    return int(served()[0].preprocessing["height"])


def image_file(fmt: str) -> st.SearchStrategy[bytes]:
    from PIL import Image

    def make(scale: int, seed: int) -> bytes:
        n = side() * scale
        pixels = np.random.default_rng(seed).integers(0, 256, (n, n), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt)
        return buffer.getvalue()

    return st.builds(make, st.integers(1, 3), st.integers(0, 2 ** 16))


def packed_codes(n: int, seed: int) -> np.ndarray:
    bits = served()[0].bits
    return pack_codes(np.random.default_rng(seed).integers(0, 2, (n, bits)).astype(bool))


octet_bodies = st.builds(lambda n, seed: packed_codes(n, seed).tobytes(), st.integers(1, 40), st.integers(0, 2 ** 16))
entropy_bodies = st.builds(lambda n, seed: encode_codes(packed_codes(n, seed), served()[0].bits, *served()[1]),
                           st.integers(1, 40), st.integers(0, 2 ** 16))

schemathesis.openapi.media_type(OCTET_STREAM, octet_bodies)
schemathesis.openapi.media_type(ENTROPY_CODED, entropy_bodies)
# Multipart parts (format: binary, the only binary strings not drawn from a media-type strategy above).
schemathesis.openapi.format("binary", st.one_of(image_file("PNG"), image_file("JPEG")))
schemathesis.openapi.format("byte", st.one_of(image_file("PNG"), image_file("JPEG")).map(
    lambda data: base64.b64encode(data).decode()))


def rectangular(batch: list) -> list:
    """A batch of the model's aspect ratio (square), every image cut to the smallest size in it."""
    n = min(min(len(image), *(len(row) for row in image)) for image in batch)
    return [[row[:n] for row in image[:n]] for image in batch]


@schemathesis.hook
def map_case(context, case):
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    body = case.body
    if positive and isinstance(body, dict) and isinstance(body.get("pixels"), list) and body["pixels"]:
        case.body = {**body, "pixels": rectangular(body["pixels"])}
    headers = case.headers or {}
    if isinstance(body, dict) and isinstance(body.get("codes"), list) and str(headers.get(COUNT_HEADER, "")).isdigit():
        case.headers = {**headers, COUNT_HEADER: str(len(body["codes"]))}
    if case.media_type in (OCTET_STREAM, ENTROPY_CODED) and isinstance(body, (bytes, bytearray)):
        headers = dict(case.headers or {})
        manifest = served()[0]
        if positive:
            headers.setdefault(MODEL_ID_HEADER, manifest.model_id)
            headers.setdefault(CODE_BITS_HEADER, str(manifest.bits))
        if str(headers.get(COUNT_HEADER, "")).isdigit():  # a number, but not the body's: make it the body's
            count = (len(body) // code_bytes(manifest.bits) if case.media_type == OCTET_STREAM
                     else int.from_bytes(bytes(body[4:8]), "little"))
            headers[COUNT_HEADER] = str(count)
        case.headers = headers
    return case
