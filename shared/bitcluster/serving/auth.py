"""The optional API key: ``Authorization: Bearer <key>`` on every endpoint but ``/healthz``.

It is a middleware rather than a route dependency so that nothing escapes it: the OpenAPI page,
``/metrics`` and unknown paths are all closed when a key is configured. Liveness stays open
because an orchestrator's probe must not need a secret to see that the process is up. The
OpenAPI document declares the scheme (:mod:`bitcluster.serving.docs.openapi`).
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from bitcluster.serving.errors import error_response

# Probes: liveness, and the Open Inference Protocol's health checks that Kubernetes calls (readiness
# answers 503 until the model is loaded, and says nothing about it).
OPEN_PATHS = frozenset({"/healthz", "/v2/health/live", "/v2/health/ready"})


def bearer_token(scope: Scope) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    header = dict(scope["headers"]).get(b"authorization", b"")
    scheme, _, token = header.partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


class APIKeyMiddleware:
    """401 for any request but ``/healthz`` without the configured bearer key."""

    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self.key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            token = bearer_token(scope)
            # compare_digest takes the same time wherever the first difference lies.
            if token is None or not hmac.compare_digest(token, self.key):
                message = ("missing API key: send 'Authorization: Bearer <key>'" if token is None
                           else "wrong API key")
                response = error_response(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

