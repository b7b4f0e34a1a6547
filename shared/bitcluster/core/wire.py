"""What codes look like on the wire between the vendor and the consumer: media types and headers.

Defined once, here, for the services, the client, the demo and the tests. A binary body of codes
(``OCTET_STREAM``: packed codes concatenated, ``ceil(D / 8)`` bytes each; ``ENTROPY_CODED``: the
stream of :mod:`bitcluster.core.entropy_coding`) travels with the headers below, since the bytes
alone do not say which model made them or how long a code is.
"""

from __future__ import annotations

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
ENTROPY_CODED = "application/x-bitcluster-entropy-coded"
MULTIPART_FORM = "multipart/form-data"

MODEL_ID_HEADER = "X-Model-Id"  # the model_id of the export that made the codes
CODE_BITS_HEADER = "X-Code-Bits"  # the code length D
COUNT_HEADER = "X-Count"  # the number of codes in the body (optional on requests, checked when given)
CODE_HEADERS = (MODEL_ID_HEADER, CODE_BITS_HEADER, COUNT_HEADER)
# On the vendor's binary answers, when images were converted between grey and RGB to match the model:
# how many, and by which rule (``rgb_to_grey`` or ``grey_to_rgb``, :mod:`bitcluster.core.channels`).
# The JSON answer carries the same as ``converted`` and ``conversion``.
CONVERTED_HEADER = "X-Converted"
CONVERSION_HEADER = "X-Conversion"
# The integer headers (X-Code-Bits, X-Count) are decimal digits, at most this many: no count or code
# length needs more, and Python's int() refuses thousands of digits with an error of its own.
MAX_HEADER_DIGITS = 18
# The vendor's default bound on the numbers of one JSON ``pixels`` batch (counted by its commas before
# parsing); the client splits the arrays it sends as JSON to stay under it.
JSON_PIXELS_PER_REQUEST = 2 ** 20


def json_rows_per_request(height: int, width: int, channels: int = 1,
                          limit: int = JSON_PIXELS_PER_REQUEST) -> int:
    """How many (height, width[, channels]) images one JSON ``pixels`` request may carry: the vendor bounds
    the numbers of a body by its commas, one fewer than the numbers of an (N, H, W[, 3]) array."""
    return max(1, limit // (height * width * channels))


def conversion_headers(converted: int, conversion: str | None) -> dict[str, str]:
    """The headers saying that ``converted`` images were converted by ``conversion`` (none when 0)."""
    return {CONVERTED_HEADER: str(converted), CONVERSION_HEADER: conversion} if converted else {}


def code_headers(model_id: str, bits: int, count: int | None = None) -> dict[str, str]:
    """The headers that go with a binary body of ``count`` codes of ``bits`` bits made by ``model_id``."""
    headers = {MODEL_ID_HEADER: model_id, CODE_BITS_HEADER: str(bits)}
    if count is not None:
        headers[COUNT_HEADER] = str(count)
    return headers
