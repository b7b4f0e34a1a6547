"""Hostile request inputs (security review, issue 23, finding 4): each is a clear 4xx, never a 500,
and a large body is parsed where it cannot stall the event loop.

The services run in process (their ASGI apps), with server errors answered as the services
answer them (500 with the error shape) instead of raised into the test.
"""

from __future__ import annotations

import asyncio
import base64

import pytest

pytest.register_assert_rewrite("service_fixtures")

from service_fixtures import assert_error, in_process_client  # noqa: E402

pytest_plugins = ["service_fixtures"]
THOUSANDS_OF_DIGITS = "9" * 5000  # past Python's int() limit of 4300 digits


@pytest.fixture(scope="module")
def consumer(model_a):
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    with in_process_client(create_app(Settings(model_dir=model_a.dir, api_key=None, max_batch=1 << 15)),
                           raise_server_exceptions=False) as client:
        yield client


def _one_code(model) -> bytes:
    return bytes(model.manifest.code_bytes)


@pytest.mark.parametrize("header", ["X-Count", "X-Code-Bits"])
@pytest.mark.parametrize("value", [THOUSANDS_OF_DIGITS, "1" + "0" * 18])
def test_an_integer_header_of_too_many_digits_is_refused_with_422(consumer, model_a, header, value):
    origin = {"X-Model-Id": model_a.manifest.model_id, "X-Code-Bits": str(model_a.manifest.bits)}
    binary = consumer.post("/v1/classify", content=_one_code(model_a),
                           headers={**origin, "Content-Type": "application/octet-stream", header: value})
    assert "18 digits" in assert_error(binary, 422, "invalid_header")["message"]
    as_json = consumer.post("/v1/classify", headers={header: value}, json={
        "model_id": model_a.manifest.model_id, "codes": [base64.b64encode(_one_code(model_a)).decode()]})
    assert_error(as_json, 422, "invalid_header")


def test_an_integer_of_thousands_of_digits_in_a_json_body_is_refused(consumer, model_a):
    body = '{"model_id": "%s", "codes": ["AAA="], "bits": %s}' % (model_a.manifest.model_id, THOUSANDS_OF_DIGITS)
    response = consumer.post("/v1/classify", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 422)


def test_an_oip_header_length_of_thousands_of_digits_is_refused(consumer):
    response = consumer.post("/v2/models/classifier/infer", content=b'{"inputs": []}',
                             headers={"Inference-Header-Content-Length": THOUSANDS_OF_DIGITS})
    assert response.status_code == 400, response.text


def _where_read_json_runs(monkeypatch) -> list[bool]:
    """Patch the classify route's JSON reader to record whether each call ran on the event loop."""
    from bitcluster_consumer.routes import classify

    on_loop = []
    read_json = classify.read_json

    def recording(*args):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # a worker thread has no running loop
            on_loop.append(False)
        return read_json(*args)

    monkeypatch.setattr(classify, "read_json", recording)
    return on_loop


def test_a_large_json_body_is_parsed_off_the_event_loop(consumer, model_a, monkeypatch):
    from bitcluster_consumer.routes.classify import INLINE_JSON_BYTES

    on_loop = _where_read_json_runs(monkeypatch)
    code = base64.b64encode(_one_code(model_a)).decode()
    small = {"model_id": model_a.manifest.model_id, "codes": [code]}
    large = {"model_id": model_a.manifest.model_id, "codes": [code] * (INLINE_JSON_BYTES // len(code) + 1)}
    assert consumer.post("/v1/classify", json=small).status_code == 200
    answer = consumer.post("/v1/classify", json=large)
    assert answer.status_code == 200 and len(answer.json()["clusters"]) == len(large["codes"])
    assert on_loop == [True, False]
