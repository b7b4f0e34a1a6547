"""The one error shape of both services: ``{"error": {"code": str, "message": str}}``.

Every 4xx and 5xx answer has it: our own refusals (:class:`ServiceError`), the model layer's domain
errors (:data:`DOMAIN_ERRORS`), FastAPI's validation errors, malformed JSON, unknown paths (404),
wrong methods (405) and unexpected failures (500). This module and the routes are the only place
where an error becomes a status code: the model layer (the core, the services' Encoder and
Classifier) raises ``ValueError`` subclasses and knows nothing of HTTP.
``code`` is a stable snake_case word a program can switch on; ``message`` is for a person and
says what to change. Messages never quote the request's content.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from bitcluster.api.images import ImageFileError, ImageTooLargeError
from bitcluster.core.codes import CodeFormatError
from bitcluster.core.model_mismatch import ModelMismatchError
from bitcluster.core.onnx_model import CodeBitsMismatchError
from bitcluster.core.preprocessing import ImageFormatError

log = logging.getLogger("uvicorn.error.bitcluster")  # shown by uvicorn's handlers


class ErrorDetail(BaseModel):
    code: str = Field(..., examples=["model_mismatch"], description="Stable snake_case error code.")
    message: str = Field(..., description="What went wrong and what to do about it.")


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


class ServiceError(HTTPException):
    """A refusal with a stable ``code``. A subclass of Starlette's HTTPException, so FastAPI lets it
    through untouched even when it is raised while the body is being read."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


# The model layer's errors and the answer each gets. Looked up along the exception's MRO, so a
# subclass (CodeBitsMismatchError is a CodeFormatError) may have its own row. An error that names
# its ``reason`` (the image errors) is answered with that code instead of the row's.
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    ModelMismatchError: (409, "model_mismatch"),
    CodeBitsMismatchError: (422, "bits_mismatch"),
    CodeFormatError: (422, "invalid_codes"),
    ImageFileError: (422, "invalid_image"),
    ImageTooLargeError: (413, "image_too_large"),
    ImageFormatError: (422, "invalid_pixels"),
}


def domain_error_status(exc: Exception) -> tuple[int, str] | None:
    """``(status, code)`` of a domain error, or None for an exception that is not one."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_ERRORS:
            status, code = DOMAIN_ERRORS[cls]
            return status, getattr(exc, "reason", code)
    return None


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def status_code_name(status: int) -> str:
    """``404 -> "not_found"``: the default code of a bare HTTP error."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def describe_validation_errors(errors: Iterable[dict[str, Any]], limit: int = 5) -> tuple[str, str]:
    """``(code, message)`` for pydantic/FastAPI validation errors, naming each field but no input."""
    errors = list(errors)
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        return "invalid_json", f"the request body is not valid JSON ({first.get('ctx', {}).get('error', first['msg'])})"
    # A header is text the document declares a pattern for: its errors have their own code.
    code = "invalid_header" if errors and all(tuple(e.get("loc", ()))[:1] == ("header",) for e in errors) \
        else "invalid_request"
    parts = []
    for e in errors[:limit]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {e['msg']}")
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return code, "; ".join(parts) + more


# For ``responses=`` of routes, so the OpenAPI page documents the error shape.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorResponse, "description": HTTPStatus(s).phrase} for s in statuses}


def install_error_handlers(app: FastAPI) -> None:
    """Route every error FastAPI and Starlette raise through the one shape."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, str(exc.detail), exc.headers)

    async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
        status, code = domain_error_status(exc)
        return error_response(status, code, str(exc))

    for domain_error in DOMAIN_ERRORS:
        app.add_exception_handler(domain_error, _domain_error)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}; see /docs"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs"
        return error_response(exc.status_code, status_code_name(exc.status_code), message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = describe_validation_errors(exc.errors())
        return error_response(422, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged without the request: the vendor's requests are images that must not reach logs.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "the service failed unexpectedly; it has been logged")
