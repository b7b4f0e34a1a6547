"""The OpenAPI documents and the services agree (security review, issue 23, finding 7).

What schemathesis (``--checks all``, seed 1) found, each as a fixed request: a request the
served document calls valid is accepted, and one it calls invalid is refused with a 4xx.
``tests/services/test_fuzz_openapi.py`` runs schemathesis itself.
"""

from __future__ import annotations

import base64

import jsonschema
import pytest

pytest.register_assert_rewrite("service_fixtures")

from service_fixtures import assert_error, in_process_client, png_bytes, random_images  # noqa: E402

pytest_plugins = ["service_fixtures"]


@pytest.fixture(scope="module")
def vendor(model_a):
    from bitcluster_vendor.config import Settings
    from bitcluster_vendor.main import create_app

    with in_process_client(create_app(Settings(model_dir=model_a.dir, api_key=None)),
                           raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def consumer(model_a):
    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app

    with in_process_client(create_app(Settings(model_dir=model_a.dir, api_key=None)),
                           raise_server_exceptions=False) as client:
        yield client


def request_schema(client, route: str, media_type: str = "application/json") -> dict:
    document = client.get("/openapi.json").json()
    return document["paths"][route]["post"]["requestBody"]["content"][media_type]["schema"]


def is_valid(schema: dict, instance) -> bool:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).is_valid(instance)


@pytest.mark.parametrize("text", ["", "data:image/png;base64,"])
def test_an_empty_image_is_invalid_to_the_document_and_refused_by_the_vendor(vendor, text):
    body = {"images": [text]}
    assert_error(vendor.post("/v1/encode", json=body), 422, "invalid_image")
    if not text:
        assert not is_valid(request_schema(vendor, "/v1/encode"), body)


def test_a_real_image_is_valid_to_the_document_and_accepted(vendor):
    body = {"images": [base64.b64encode(png_bytes(random_images(1)[0])).decode()]}
    assert is_valid(request_schema(vendor, "/v1/encode"), body)
    assert vendor.post("/v1/encode", json=body).status_code == 200


@pytest.mark.parametrize("in_query", ["true", "false"])
@pytest.mark.parametrize("in_body", [True, False])
def test_posteriors_in_both_the_query_and_the_body_are_accepted(consumer, model_a, in_query, in_body):
    body = {"model_id": model_a.manifest.model_id, "codes": [base64.b64encode(b"\0\0").decode()],
            "posteriors": in_body}
    assert is_valid(request_schema(consumer, "/v1/classify"), body)
    response = consumer.post(f"/v1/classify?posteriors={in_query}", json=body)
    assert response.status_code == 200, response.text
    assert ("posteriors" in response.json()) == (in_query == "true" or in_body)


def test_the_document_says_how_query_and_body_posteriors_combine(consumer):
    operation = consumer.get("/openapi.json").json()["paths"]["/v1/classify"]["post"]
    query = next(p for p in operation["parameters"] if p["name"] == "posteriors")
    assert "either" in query["description"]


@pytest.mark.parametrize("digits", [18, 19])
def test_integer_headers_are_declared_as_the_digits_the_consumer_takes(consumer, model_a, digits):
    operation = consumer.get("/openapi.json").json()["paths"]["/v1/classify"]["post"]
    count = next(p for p in operation["parameters"] if p["name"] == "X-Count")
    value = "1" * digits
    response = consumer.post("/v1/classify", headers={"X-Count": value}, json={
        "model_id": model_a.manifest.model_id, "codes": [base64.b64encode(b"\0\0").decode()]})
    # 18 digits: a valid header whose count does not match; 19: a header the document calls invalid.
    assert is_valid(count["schema"], value) == (digits == 18)
    assert_error(response, 422, "count_mismatch" if digits == 18 else "invalid_header")

