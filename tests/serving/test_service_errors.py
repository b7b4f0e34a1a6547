"""Bad inputs against both running services: each refused before any work, with the one error shape."""

from __future__ import annotations

import base64
import struct
import zlib

import httpx
import numpy as np
import pytest

from bitcluster.core.wire import CODE_BITS_HEADER, COUNT_HEADER, MODEL_ID_HEADER
from bitcluster.core.wire import JSON as JSON_MEDIA_TYPE
from bitcluster.core.wire import OCTET_STREAM as OCTET

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import assert_error, png_bytes, random_images  # noqa: E402

pytest_plugins = ["service_fixtures"]
pytestmark = pytest.mark.slow
JSON = {"Content-Type": JSON_MEDIA_TYPE}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels in a few dozen bytes: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def multipart(files: list[tuple[str, bytes]]) -> dict:
    """A multipart body, streamed in chunks without Content-Length."""
    request = httpx.Request("POST", "http://unused", files=[("files", f) for f in files])
    return dict(content=chunked(request.read()), headers={"Content-Type": request.headers["Content-Type"]})


def chunked(data: bytes):
    """A body without Content-Length (Transfer-Encoding: chunked)."""
    for i in range(0, len(data), 16384):
        yield data[i:i + 16384]


TOO_BIG = b"x" * (300 * 1024)  # the services under test accept 256 KiB
ONE = random_images(1)[0]
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x00;"

VENDOR_CASES = {
    "empty pixels": (dict(json={"pixels": []}), 422, "empty_batch"),
    "empty images": (dict(json={"images": []}), 422, "empty_batch"),
    "batch over max_batch": (dict(json={"pixels": np.zeros((257, 1, 1), int).tolist()}), 413, "batch_too_large"),
    "body over max_body_bytes": (dict(content=TOO_BIG, headers=JSON), 413, "body_too_large"),
    "chunked body over the cap": (dict(content=chunked(TOO_BIG), headers=JSON), 413, "body_too_large"),
    "NaN pixel": (dict(content=b'{"pixels": [[[NaN, 0.5]]]}', headers=JSON), 422, None),
    "infinite pixel": (dict(content=b'{"pixels": [[[Infinity, 0.5]]]}', headers=JSON), 422, None),
    "float pixel above 1": (dict(json={"pixels": [[[0.5, 1.5]]]}), 422, "invalid_pixels"),
    "integer pixel above 255": (dict(json={"pixels": [[[0, 300]]]}), 422, "invalid_pixels"),
    "ragged pixels": (dict(json={"pixels": [[[1, 2], [3]]]}), 422, "invalid_pixels"),
    "pixels not 3-D": (dict(json={"pixels": [[1, 2]]}), 422, "invalid_request"),
    "zero-size image": (dict(json={"pixels": [[[]]]}), 422, "empty_image"),
    "both images and pixels": (dict(json={"images": [b64(png_bytes(ONE))], "pixels": [[[1]]]}), 422, "invalid_request"),
    "neither": (dict(json={}), 422, "invalid_request"),
    "unknown field": (dict(json={"pixels": [[[1]]], "pixel": 1}), 422, "invalid_request"),
    "not base64": (dict(json={"images": ["%%%not base64%%%"]}), 422, "invalid_base64"),
    "non-image bytes": (dict(json={"images": [b64(b"just some bytes")]}), 422, "invalid_image"),
    "GIF is not accepted": (dict(json={"images": [b64(GIF)]}), 422, "invalid_image"),
    "truncated PNG": (dict(json={"images": [b64(png_bytes(ONE)[:40])]}), 422, "invalid_image"),
    "PNG over max_image_pixels": (dict(json={"images": [b64(png_bytes(random_images(1, side=100)[0]))]}),
                                  413, "image_too_large"),
    "header claims 5000x5000": (dict(json={"images": [b64(png_header(5000, 5000))]}), 413, "image_too_large"),
    "header claims 10^10 pixels": (dict(files=[("files", ("bomb.png", png_header(100000, 100000)))]), 413,
                                   "image_too_large"),
    "chunked multipart over the cap": (multipart([(f"{i}.png", b"y" * 100_000) for i in range(4)]), 413,
                                       "body_too_large"),
    "multipart without files": (dict(files=[("other", ("a.png", png_bytes(ONE)))]), 422, "empty_batch"),
    "malformed JSON": (dict(content=b'{"pixels": [[[1,', headers=JSON), 422, "invalid_json"),
    "unsupported media type": (dict(content=b"hello", headers={"Content-Type": "text/plain"}), 415,
                               "unsupported_media_type"),
    "pixel as a string (no coercion)": (dict(json={"pixels": [[["1"]]]}), 422, "invalid_request"),
    "images null beside pixels": (dict(json={"images": None, "pixels": [[[1]]]}), 422, "invalid_request"),
    "Accept nothing the route answers": (dict(json={"pixels": [[[1]]]}, headers={"Accept": "image/png"}), 406,
                                         "not_acceptable"),
    "Accept refuses JSON": (dict(json={"pixels": [[[1]]]}, headers={"Accept": "application/json;q=0"}), 406,
                            "not_acceptable"),
}


@pytest.mark.parametrize("case", VENDOR_CASES)
def test_vendor_refuses(services, case):
    kwargs, status, code = VENDOR_CASES[case]
    assert_error(httpx.post(services.vendor.url + "/v1/encode", **kwargs), status, code)


def consumer_cases(model_id: str) -> dict:
    octet = lambda **h: {"Content-Type": OCTET, MODEL_ID_HEADER: model_id, CODE_BITS_HEADER: "12", **h}  # noqa: E731
    good = b64(b"\x12\x30")
    return {
        "another model's codes (JSON)": (dict(json={"model_id": "0123456789abcdef", "codes": [good]}), 409,
                                         "model_mismatch"),
        "another model's codes (octet)": (dict(content=b"\x12\x30", headers=octet(**{MODEL_ID_HEADER: "feed"})), 409,
                                          "model_mismatch"),
        "wrong X-Code-Bits": (dict(content=b"\x12\x30", headers=octet(**{CODE_BITS_HEADER: "16"})), 422,
                              "bits_mismatch"),
        "wrong bits field": (dict(json={"model_id": model_id, "codes": [good], "bits": 16}), 422, "bits_mismatch"),
        "X-Code-Bits not a number": (dict(content=b"\x12\x30", headers=octet(**{CODE_BITS_HEADER: "twelve"})), 422,
                                     "invalid_header"),
        "missing headers": (dict(content=b"\x12\x30", headers={"Content-Type": OCTET}), 422, "missing_header"),
        "body not whole codes": (dict(content=b"\x12\x30\x01", headers=octet()), 422, "invalid_code_length"),
        "padding bits set (octet)": (dict(content=b"\x12\x30\x00\x0f", headers=octet()), 422, "invalid_codes"),
        "padding bits set (JSON)": (dict(json={"model_id": model_id, "codes": [good, b64(b"\x00\x01")]}), 422,
                                    "invalid_codes"),
        "code of the wrong length (JSON)": (dict(json={"model_id": model_id, "codes": [b64(b"\x00\x00\x00")]}), 422,
                                            "invalid_code_length"),
        "X-Count disagrees": (dict(content=b"\x12\x30" * 2, headers=octet(**{COUNT_HEADER: "3"})), 422,
                              "count_mismatch"),
        "empty octet body": (dict(content=b"", headers=octet()), 422, "empty_batch"),
        "empty codes list": (dict(json={"model_id": model_id, "codes": []}), 422, "empty_batch"),
        "batch over max_batch": (dict(content=b"\x12\x30" * 257, headers=octet()), 413, "batch_too_large"),
        "body over max_body_bytes": (dict(content=TOO_BIG, headers=octet()), 413, "body_too_large"),
        "chunked body over the cap": (dict(content=chunked(TOO_BIG), headers=octet()), 413, "body_too_large"),
        "not base64": (dict(json={"model_id": model_id, "codes": ["@@"]}), 422, "invalid_base64"),
        "missing model_id": (dict(json={"codes": [good]}), 422, "invalid_request"),
        "malformed JSON": (dict(content=b"{nope", headers=JSON), 422, "invalid_json"),
        "unsupported media type": (dict(content=b"\x12\x30", headers={"Content-Type": "text/plain"}), 415,
                                   "unsupported_media_type"),
        "bits as a string (no coercion)": (dict(json={"model_id": model_id, "codes": [good], "bits": "12"}), 422,
                                           "invalid_request"),
        "posteriors as a number (no coercion)": (dict(json={"model_id": model_id, "codes": [good], "posteriors": 0}),
                                                 422, "invalid_request"),
        "non-canonical base64 (fill bits set)": (dict(json={"model_id": model_id, "codes": ["EjB="]}), 422,
                                                 "invalid_codes"),
        "X-Count not digits (JSON)": (dict(json={"model_id": model_id, "codes": [good]},
                                           headers={COUNT_HEADER: "1_0"}), 422, "invalid_header"),
        "X-Count disagrees (JSON)": (dict(json={"model_id": model_id, "codes": [good]}, headers={COUNT_HEADER: "2"}),
                                     422, "count_mismatch"),
        "X-Model-Id of another model (JSON)": (dict(json={"model_id": model_id, "codes": [good]},
                                                    headers={MODEL_ID_HEADER: "feed"}), 409, "model_mismatch"),
        "Accept nothing the route answers": (dict(content=b"\x12\x30", headers=octet(Accept="image/png")), 406,
                                             "not_acceptable"),
        "binary answer with posteriors": (dict(json={"model_id": model_id, "codes": [good], "posteriors": True},
                                               headers={"Accept": OCTET}), 406, "not_acceptable"),
    }


CONSUMER_CASE_NAMES = list(consumer_cases("x"))


@pytest.mark.parametrize("case", CONSUMER_CASE_NAMES)
def test_consumer_refuses(services, case):
    kwargs, status, code = consumer_cases(services.model.manifest.model_id)[case]
    error = assert_error(httpx.post(services.consumer.url + "/v1/classify", **kwargs), status, code)
    if code == "model_mismatch":
        assert services.model.manifest.model_id in error["message"]


@pytest.mark.parametrize("service", ["vendor", "consumer"])
def test_unknown_paths_and_methods_use_the_error_shape(services, service):
    url = getattr(services, service).url
    assert_error(httpx.get(url + "/v1/nothing"), 404, "not_found")
    assert_error(httpx.delete(url + "/v1/model"), 405, "method_not_allowed")
    assert_error(httpx.get(url + ("/v1/encode" if service == "vendor" else "/v1/classify")), 405)


def test_query_validation_errors_use_the_error_shape(services):
    for value in ("maybe", "1", "yes"):  # the document says boolean: 'true' or 'false', nothing coerced
        r = httpx.post(services.consumer.url + f"/v1/classify?posteriors={value}",
                       json={"model_id": services.model.manifest.model_id, "codes": [b64(b"\x12\x30")]})
        assert "posteriors" in assert_error(r, 422, "invalid_request")["message"]


def test_binary_requests_get_binary_answers_when_they_ask(services):
    """Accept: application/octet-stream -> the clusters as little-endian int32; JSON stays the default."""
    codes = services.model.encode(random_images(200, seed=3))  # max_batch is 256 here
    headers = {"Content-Type": OCTET, MODEL_ID_HEADER: services.model.manifest.model_id, CODE_BITS_HEADER: "12"}
    url = services.consumer.url + "/v1/classify"
    binary = httpx.post(url, content=codes.tobytes(), headers={**headers, "Accept": OCTET})
    assert binary.status_code == 200 and binary.headers["content-type"] == OCTET
    assert binary.headers[COUNT_HEADER] == "200" and binary.headers[MODEL_ID_HEADER] == services.model.manifest.model_id
    clusters = np.frombuffer(binary.content, dtype="<i4")
    np.testing.assert_array_equal(clusters, services.model.classify(codes))
    default = httpx.post(url, content=codes.tobytes(), headers=headers)  # httpx sends Accept: */*
    assert default.headers["content-type"] == JSON_MEDIA_TYPE
    np.testing.assert_array_equal(default.json()["clusters"], clusters)
    both = httpx.post(url, content=codes.tobytes(), headers={**headers, "Accept": f"{JSON_MEDIA_TYPE};q=0.5, {OCTET}"})
    assert both.headers["content-type"] == OCTET


def test_the_vendor_never_echoes_or_logs_what_it_was_sent(services):
    secret = b"SECRET-PIXELS-0xC0FFEE"
    for body in ({"images": [b64(secret)]}, {"images": [secret.decode()]}, {"pixels": secret.decode()}):
        r = httpx.post(services.vendor.url + "/v1/encode", json=body)
        assert r.status_code == 422 and b"SECRET" not in r.content and b"QVNF" not in r.content
    assert "SECRET" not in services.vendor.log() and b64(secret) not in services.vendor.log()


def test_services_still_work_after_refusals(services):
    r = httpx.post(services.vendor.url + "/v1/encode", json={"pixels": random_images(2).tolist()})
    assert r.status_code == 200 and r.json()["count"] == 2


def test_work_past_the_deadline_is_answered_504():
    import time

    import anyio

    from bitcluster.serving.errors import ServiceError
    from bitcluster.serving.runtime import run_with_deadline

    seen = []

    def slow(run_options):
        seen.append(run_options)
        time.sleep(0.5)

    start = time.perf_counter()
    with pytest.raises(ServiceError) as e:
        anyio.run(run_with_deadline, slow, 0.05)
    assert e.value.status_code == 504 and e.value.code == "timeout"
    assert time.perf_counter() - start < 0.4 and seen[0].terminate  # answered at once; ORT asked to stop
