"""Schemathesis fuzzes both services' OpenAPI against the real processes: never a 5xx.

The schema is the one each app publishes at ``/openapi.json``, built here from the same app code
(``schemathesis.pytest.from_fixture``, the lazy loader, does not run under pytest 9), and every
generated request, valid and invalid, goes over HTTP to the running ``bitcluster serve`` process.
Every answer must be below 500, and every refusal must have the one error shape.

To reach past the first checks, binary bodies are sent with the served model's ``X-Model-Id``
and ``X-Code-Bits``, JSON bodies naming a ``model_id`` name the served one, and entropy-coded
bodies are drawn both as raw bytes and behind a well-formed stream header.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bitcluster.core.entropy_coding import HEADER, MAGIC  # noqa: E402
from bitcluster.core.wire import CODE_BITS_HEADER, ENTROPY_CODED, MODEL_ID_HEADER  # noqa: E402
from bitcluster.core.wire import OCTET_STREAM as OCTET  # noqa: E402
from bitcluster_consumer.config import Settings as ConsumerSettings  # noqa: E402
from bitcluster_consumer.main import create_app as consumer_app  # noqa: E402
from bitcluster_vendor.config import Settings as VendorSettings  # noqa: E402
from bitcluster_vendor.main import create_app as vendor_app  # noqa: E402

pytest_plugins = ["service_fixtures"]
pytestmark = pytest.mark.slow
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                database=None)

# Entropy-coded streams: junk, and a valid header (any count, any code length, any CRC) + words.
_stream_header = st.builds(lambda n, bits, crc: HEADER.pack(MAGIC, n, bits, crc),
                           st.integers(0, 300) | st.integers(0, 2 ** 32 - 1),
                           st.sampled_from([12, 0, 65535]) | st.integers(0, 65535), st.integers(0, 2 ** 32 - 1))
schemathesis.openapi.media_type(ENTROPY_CODED, st.binary(max_size=64)
                                | st.tuples(_stream_header, st.binary(max_size=512)).map(b"".join))
schemathesis.openapi.media_type(OCTET, st.binary(max_size=600))

vendor = schemathesis.openapi.from_dict(vendor_app(VendorSettings(api_key=None)).openapi())
consumer = schemathesis.openapi.from_dict(consumer_app(ConsumerSettings(api_key=None)).openapi())


def assert_no_server_error(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        if response.request.path_url.startswith("/v2"):  # the Open Inference Protocol's shape
            assert set(body) == {"error"} and isinstance(body["error"], str), body
            return
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body


@vendor.parametrize()
@FUZZ
def test_vendor_never_answers_5xx(case, services):
    assert_no_server_error(case.call(base_url=services.vendor.url, timeout=30))


@consumer.parametrize()
@FUZZ
def test_consumer_never_answers_5xx(case, services):
    model_id = services.model.manifest.model_id
    if case.media_type in (OCTET, ENTROPY_CODED):
        case.headers = {**(case.headers or {}), MODEL_ID_HEADER: model_id,
                        CODE_BITS_HEADER: str(services.model.manifest.bits)}
    elif isinstance(case.body, dict) and isinstance(case.body.get("model_id"), str):
        case.body = {**case.body, "model_id": model_id}
    assert_no_server_error(case.call(base_url=services.consumer.url, timeout=30))
