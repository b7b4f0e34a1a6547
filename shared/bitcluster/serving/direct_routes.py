"""Routes answered ahead of FastAPI's routing, for the one request whose cost FastAPI would dominate.

A path named here keeps its ``APIRoute`` (its OpenAPI operation, generated from its declared
parameters, and the 405 of any method it does not take); a plain Starlette ``Route`` for the same
path and methods is put first in the app's routes, with an endpoint that takes the ``Request``
alone, looks up the route's dependencies, validates its parameters with the same models and calls
the declared endpoint. Requests then skip FastAPI's matching through the included routers, its
dependency solving and its exit stacks. Used by ``POST /v1/classify`` only, because
``bench/classify_routing.py`` shows it is needed there (``bench/results/classify_routing.md``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import Route

DirectEndpoint = Callable[[Request], Awaitable[Response]]


def serve_directly(app: FastAPI, routers: Sequence[APIRouter], endpoints: Mapping[str, DirectEndpoint]) -> None:
    """Answer each path of ``endpoints`` (a route of ``routers``) by its direct endpoint, ahead of FastAPI."""
    routes = {route.path: route for router in routers for route in router.routes if isinstance(route, APIRoute)}
    for path, endpoint in endpoints.items():
        if path not in routes:
            raise ValueError(f"no route {path} to serve directly (routes: {sorted(routes)})")
        _check_takes_the_request_alone(path, endpoint)
        route = routes[path]
        app.router.routes.insert(0, Route(route.path, endpoint, methods=sorted(route.methods),
                                          name=f"{route.name}_direct", include_in_schema=False))


def _check_takes_the_request_alone(path: str, endpoint: DirectEndpoint) -> None:
    parameters = list(inspect.signature(endpoint).parameters.values())
    if not inspect.iscoroutinefunction(endpoint) or len(parameters) != 1 \
            or parameters[0].annotation not in (Request, "Request"):
        raise TypeError(f"{path}: a direct endpoint must be `async def f(request: Request)`; nothing injects "
                        "its dependencies or validates its parameters but itself")
