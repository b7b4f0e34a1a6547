"""Limits checked before the work starts: the body size (before parsing) and the batch size."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bitcluster.serving.errors import ServiceError, error_response


def body_too_large(limit: int) -> ServiceError:
    return ServiceError(413, "body_too_large",
                        f"the request body exceeds {limit} bytes; send smaller batches "
                        "(or raise BITCLUSTER_MAX_BODY_BYTES on the service)")


class BodyLimitMiddleware:
    """Refuse bodies over ``limit`` bytes without reading them.

    A declared ``Content-Length`` over the limit is answered 413 at once. A body without one
    (chunked) is counted as it streams in, and reading stops with 413 at the first byte past the
    limit, so a service never buffers more than ``limit`` bytes of one request.
    """

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await error_response(400, "bad_request", "Content-Length is not a number")(scope, receive, send)
                return
            if size > self.limit:
                exc = body_too_large(self.limit)
                await error_response(413, exc.code, str(exc.detail))(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise body_too_large(self.limit)
            return message

        await self.app(scope, limited_receive, send)


def check_batch_size(count: int, max_batch: int, what: str) -> None:
    """422 for an empty batch, 413 for one over ``max_batch``."""
    if count == 0:
        raise ServiceError(422, "empty_batch", f"the request holds no {what}; send at least one")
    if count > max_batch:
        raise ServiceError(413, "batch_too_large",
                           f"{count} {what} in one request; at most {max_batch} are accepted: split the batch "
                           "(or raise BITCLUSTER_MAX_BATCH on the service)")
