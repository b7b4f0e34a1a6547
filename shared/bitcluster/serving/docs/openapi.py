"""The OpenAPI document of a service, as strict as the code that answers.

FastAPI derives most of the document from the routes. This module adds what it cannot see:

* the bearer scheme, always declared: required on every route but the open ones (``security: []``)
  when the service has an API key, optional (``[{"bearer": []}, {}]``) when it has none;
* the statuses the middlewares can answer on any route: 401 (API key) on the closed ones, 400
  (a ``Content-Length`` that is not a number), 413 (the body cap) and 500 everywhere;
* what only the loaded model can say, through each service's :data:`ContractPatch`: its
  ``model_id`` in the request examples (so that a schema-driven client can reach the success path),
  its code length, the exact base64 shape of its codes.

The document is built on first request; it is cached once the model is loaded (before that, it is
the model-independent one, rebuilt on each request).
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any, Callable, Collection

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from bitcluster.core.wire import JSON

# Mutates the document (``schema["paths"][...]``) with what the served model and settings say.
ContractPatch = Callable[[dict, Any, Any], None]

BEARER = "bearer"
ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorResponse"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def error_status(status: int, why: str) -> dict:
    """An OpenAPI response object: ``status`` with the one error shape."""
    return {"description": f"{HTTPStatus(status).phrase}: {why}", "content": {JSON: {"schema": ERROR_SCHEMA_REF}}}


def document_security(schema: dict, *, key_required: bool, open_paths: Collection[str]) -> None:
    """Declare the bearer scheme, require it (or not), and mark the open paths ``security: []``."""
    schema.setdefault("components", {})["securitySchemes"] = {
        BEARER: {"type": "http", "scheme": "bearer",
                 "description": "The service's BITCLUSTER_API_KEY, when it has one: "
                                "'Authorization: Bearer <key>'."}}
    # An empty requirement ({}) means "no credentials needed": the key is optional without one.
    schema["security"] = [{BEARER: []}] if key_required else [{BEARER: []}, {}]
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                if path in open_paths:
                    operation["security"] = []
                elif key_required:
                    operation.setdefault("responses", {}).setdefault(
                        "401", error_status(401, "missing or wrong API key (the service has one)"))


def document_middleware_statuses(schema: dict) -> None:
    """Statuses every route may answer before (or after) its own code runs."""
    for item in schema.get("paths", {}).values():
        for method in METHODS:
            if method in item:
                responses = item[method].setdefault("responses", {})
                responses.setdefault("400", error_status(400, "malformed request (e.g. Content-Length not a number)"))
                responses.setdefault("413", error_status(413, "the body exceeds BITCLUSTER_MAX_BODY_BYTES"))
                responses.setdefault("500", error_status(500, "unexpected failure, logged by the service"))


def install_openapi(app: FastAPI, *, key_required: bool, open_paths: Collection[str],
                    contract: ContractPatch | None = None) -> None:
    """Replace ``app.openapi`` with the builder described in the module docstring."""

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        # A copy: the routes' openapi_extra dicts end up inside it, and the patches below write into it.
        schema = copy.deepcopy(get_openapi(title=app.title, version=app.version, description=app.description,
                                           routes=app.routes))
        schema.setdefault("components", {}).setdefault("schemas", {})
        document_security(schema, key_required=key_required, open_paths=open_paths)
        document_middleware_statuses(schema)
        model = getattr(app.state, "model", None)
        if model is not None and contract is not None:
            contract(schema, model, app.state.settings)
        if model is not None:
            app.openapi_schema = schema  # the model is fixed for the life of the process
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
