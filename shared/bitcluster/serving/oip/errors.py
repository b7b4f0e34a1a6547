"""Error bodies under ``/v2``: the Open Inference Protocol's ``{"error": "<message>"}``.

The rest of a service answers errors as ``{"error": {"code", "message"}}`` (see
:mod:`bitcluster.serving.errors`), and every refusal -- the API key, the body cap, FastAPI's 404
and 405, the model layer's domain errors, the routes' own -- is raised in that one way. Rather than
teach each of them a second shape, this middleware rewrites error answers on ``/v2`` paths into
the protocol's shape, keeping the status and the message: clients such as ``tritonclient`` read
``error`` as a string.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

OIP_PREFIX = "/v2"


def oip_error_body(body: bytes) -> bytes | None:
    """``{"error": {"code", "message"}}`` -> ``{"error": message}``; None for any other body."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return json.dumps({"error": error["message"]}).encode()
    return None


def is_oip_path(path: str) -> bool:
    return path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/")


class OIPErrorBodyMiddleware:
    """On ``/v2`` paths, hold back any 4xx/5xx answer and send it in the protocol's error shape."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_oip_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewriting_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message  # error bodies are small: buffer, rewrite, then send
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            rewritten = oip_error_body(body)
            headers = list(start.get("headers", []))
            if rewritten is not None:
                body = rewritten
                headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewriting_send)
