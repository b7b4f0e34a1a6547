"""A route answered ahead of FastAPI's routing keeps its contract: the declared endpoint, its errors, methods, OpenAPI."""

from __future__ import annotations

import base64

import pytest
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.routing import APIRoute
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
    async def echo(request: Request, reverse: bool = Query(True)) -> Response:
        seen.append(request.scope)
        body = await request.body()
        if body == b"refuse":
            raise ServiceError(422, "refused", "asked to refuse")
        return Response(body[::-1] if reverse else body, media_type="application/octet-stream")

    async def echo_directly(request: Request) -> Response:
        return await echo(request, reverse=True)

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    serve_directly(app, [router], {"/echo": echo_directly})
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


def test_the_openapi_document_keeps_the_declared_operation_once():
    app, _ = _app_with_a_direct_route()
    operations = app.openapi()["paths"]["/echo"]
    assert list(operations) == ["post"] and operations["post"]["summary"] == "Echo the body"
    assert [p["name"] for p in operations["post"]["parameters"]] == ["reverse"]


def test_only_endpoints_that_take_the_request_alone_can_serve_directly():
    router = APIRouter()

    @router.post("/route")
    async def route(request: Request) -> Response:
        return Response()

    async def with_more(request: Request, flag: bool = True) -> Response:
        return Response()

    def sync(request: Request) -> Response:
        return Response()

    for endpoint in (with_more, sync):
        with pytest.raises(TypeError, match="async def f\\(request: Request\\)"):
            serve_directly(FastAPI(), [router], {"/route": endpoint})
    with pytest.raises(ValueError, match="no route /missing"):
        serve_directly(FastAPI(), [router], {"/missing": route})


def test_the_consumer_answers_classify_directly_and_declares_its_parameters():
    from bitcluster_consumer.main import create_app
    from bitcluster_consumer.openapi import ROUTE
    from bitcluster_consumer.routes.classify import classify, classify_directly, router

    app = create_app()
    first = app.router.routes[0]
    assert type(first) is Route and first.path == ROUTE and first.endpoint is classify_directly
    declared = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == ROUTE)
    assert declared.endpoint is classify
    names = {p["name"] for p in app.openapi()["paths"][ROUTE]["post"]["parameters"]}
    assert names == {"posteriors", "log_likelihood", "novel", "rate", "X-Model-Id", "X-Code-Bits", "X-Count"}


@pytest.mark.parametrize("query, headers", [
    ("", {}), ("?posteriors=true", {}), ("?posteriors=1", {}), ("?rate=2", {}), ("?rate=x&posteriors=no", {}),
    ("", {"X-Count": "1"}), ("", {"X-Count": "2"}), ("", {"X-Count": "1_0"}), ("", {"X-Code-Bits": "twelve"}),
    ("", {"X-Model-Id": "feed"}),
])
def test_classify_answers_alike_through_fastapi_and_directly(query, headers):
    """The direct route validates with the route's own models: same status, code and message either way."""
    from bitcluster_consumer.main import create_app
    from bitcluster_consumer.openapi import ROUTE

    direct = create_app()
    routed = create_app()
    routed.router.routes.pop(0)  # the direct route: requests now go through FastAPI's routing
    answers = []
    for app in (direct, routed):
        with in_process_client(app) as client:
            model = client.get("/v1/model").json()
            body = {"model_id": model["model_id"], "codes": [base64.b64encode(bytes(model["code_bytes"])).decode()]}
            answer = client.post(ROUTE + query, json=body, headers=headers)
            answers.append((answer.status_code, answer.json()))
    assert answers[0] == answers[1]
