"""The optional API key: everything but /healthz needs 'Authorization: Bearer <key>' once one is set."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bitcluster.serving.process import ServiceProcess

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import QUIET, assert_error, in_process_client  # noqa: E402

pytest_plugins = ["service_fixtures"]
KEY = "s3cret-key"
CLOSED = [("GET", "/readyz"), ("GET", "/v1/model"), ("GET", "/metrics"), ("GET", "/openapi.json"),
          ("GET", "/docs"), ("GET", "/v1/nothing")]


def make_app(service: str, **settings):
    if service == "vendor":
        from bitcluster_vendor.config import Settings
        from bitcluster_vendor.main import create_app
    else:
        from bitcluster_consumer.config import Settings
        from bitcluster_consumer.main import create_app
    return create_app(Settings(**settings))


@pytest.mark.parametrize("service", ["vendor", "consumer"])
def test_a_configured_key_closes_everything_but_healthz(model_a, service):
    work = ("POST", "/v1/encode" if service == "vendor" else "/v1/classify")
    with in_process_client(make_app(service, model_dir=model_a.dir, api_key=KEY)) as client:
        assert client.get("/healthz").status_code == 200
        for method, path in CLOSED + [work]:
            r = client.request(method, path)
            assert_error(r, 401, "unauthorized")
            assert r.headers["WWW-Authenticate"] == "Bearer"
            assert "missing API key" in r.json()["error"]["message"]
            for wrong in ("Bearer nope", f"Basic {KEY}", f"Bearer {KEY}x", "Bearer"):
                assert_error(client.request(method, path, headers={"Authorization": wrong}), 401, "unauthorized")
        good = {"Authorization": f"Bearer {KEY}"}
        for path in ("/readyz", "/v1/model", "/metrics", "/docs"):
            assert client.get(path, headers=good).status_code == 200, path
        spec = client.get("/openapi.json", headers=good).json()
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert spec["security"] == [{"bearer": []}]
        assert spec["paths"]["/healthz"]["get"]["security"] == []  # open: no credentials
        for path in ("/readyz", "/v1/model", "/metrics", work[1]):
            operation = next(iter(spec["paths"][path].values()))
            assert "security" not in operation and "401" in operation["responses"], path
        assert client.request(*work, headers=good).status_code in (415, 422)  # past auth, refused on content
        # Refused requests are still counted.
        assert 'status="401"' in client.get("/metrics", headers=good).text


@pytest.mark.parametrize("service", ["vendor", "consumer"])
def test_without_a_key_everything_is_open(model_a, service, monkeypatch):
    monkeypatch.setenv("BITCLUSTER_API_KEY", "")  # an empty variable (compose's default) means no key
    with in_process_client(make_app(service, model_dir=model_a.dir)) as client:
        assert client.get("/v1/model").status_code == 200
        spec = client.get("/openapi.json").json()
        # The scheme is always declared, so a client can see it; without a key it is optional ({}).
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert spec["security"] == [{"bearer": []}, {}]
        assert spec["paths"]["/healthz"]["get"]["security"] == []
        assert "401" not in spec["paths"]["/v1/model"]["get"]["responses"]


@pytest.mark.parametrize("service", ["vendor", "consumer"])
def test_docs_are_served_offline(model_a, service):
    """/docs loads Swagger UI's script and style sheet from the service itself, not from a CDN."""
    with in_process_client(make_app(service, model_dir=model_a.dir, api_key=KEY)) as client:
        good = {"Authorization": f"Bearer {KEY}"}
        page = client.get("/docs", headers=good)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
        assert len(assets) == 2 and all(a.startswith("/docs/assets/") for a in assets), assets
        assert "cdn" not in page.text.lower() and "http" not in "".join(assets)
        for asset in assets:
            served = client.get(asset, headers=good)
            assert served.status_code == 200 and len(served.content) > 100_000, asset
        assert b"SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js", headers=good).content
        assert client.get("/redoc", headers=good).status_code == 404  # FastAPI's CDN page is off


def test_the_key_is_read_from_the_environment(model_a, monkeypatch):
    monkeypatch.setenv("BITCLUSTER_API_KEY", KEY)
    with in_process_client(make_app("consumer", model_dir=model_a.dir)) as client:
        assert client.get("/v1/model").status_code == 401
        assert client.get("/v1/model", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


@pytest.mark.slow
def test_a_keyed_service_process_and_its_container_probe(model_a):
    with ServiceProcess("consumer", model_a.dir, env={**QUIET, "BITCLUSTER_API_KEY": KEY}) as consumer:
        probe = [sys.executable, "-m", "bitcluster.serving.probe", consumer.url + "/readyz"]
        with_key = subprocess.run(probe, env={**consumer.env}, capture_output=True, timeout=30)
        without = subprocess.run(probe, env={**consumer.env, "BITCLUSTER_API_KEY": ""}, capture_output=True,
                                 timeout=30)
    assert with_key.returncode == 0 and without.returncode == 1
    assert b"401" in without.stderr
