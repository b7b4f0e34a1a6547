"""Hot routes answered ahead of FastAPI's routing keep their contract: same endpoint, methods, errors, OpenAPI."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from starlette.routing import Route

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import in_process_client  # noqa: E402

from bitcluster.serving.direct_routes import serve_directly  # noqa: E402
from bitcluster.serving.errors import ServiceError, install_error_handlers  # noqa: E402

pytest_plugins = ["service_fixtures"]


def _app_with_a_direct_route() -> tuple[FastAPI, list[dict]]:
    seen: list[dict] = []
    router = APIRouter()

    @router.post("/echo", summary="Echo the body")
    async def echo(request: Request) -> Response:
        seen.append(request.scope)
        body = await request.body()
        if body == b"refuse":
            raise ServiceError(422, "refused", "asked to refuse")
        return Response(body[::-1], media_type="application/octet-stream")

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    serve_directly(app, [router], ["/echo"])
    return app, seen


def test_a_direct_route_answers_with_the_same_endpoint_errors_and_methods():
    app, seen = _app_with_a_direct_route()
    assert type(app.router.routes[0]) is Route and app.router.routes[0].path == "/echo"
    with in_process_client(app) as client:
        answer = client.post("/echo", content=b"abc")
        assert answer.status_code == 200 and answer.content == b"cba"
        # FastAPI's route handler would have put its exit stack in the scope: this request skipped it
        assert "fastapi_inner_astack" not in seen[-1]
        refused = client.post("/echo", content=b"refuse")
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "refused"
        wrong_method = client.get("/echo")
        assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"


def test_the_openapi_document_keeps_the_operation_once():
    app, _ = _app_with_a_direct_route()
    operations = app.openapi()["paths"]["/echo"]
    assert list(operations) == ["post"] and operations["post"]["summary"] == "Echo the body"


def test_only_routes_that_take_the_request_alone_can_be_served_directly():
    router = APIRouter()

    @router.post("/with-dependency")
    async def with_dependency(request: Request, flag: bool = Depends(lambda: True)) -> Response:
        return Response()

    @router.post("/sync")
    def sync(request: Request) -> Response:
        return Response()

    for path in ("/with-dependency", "/sync"):
        with pytest.raises(TypeError, match="async def f\\(request: Request\\)"):
            serve_directly(FastAPI(), [router], [path])
    with pytest.raises(ValueError, match="no route /missing"):
        serve_directly(FastAPI(), [router], ["/missing"])


def test_the_consumer_answers_classify_directly():
    from bitcluster_consumer.main import create_app
    from bitcluster_consumer.openapi import ROUTE
    from bitcluster_consumer.routes.classify import classify

    first = create_app().router.routes[0]
    assert type(first) is Route and first.path == ROUTE and first.endpoint is classify
