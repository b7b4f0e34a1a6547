"""The optional API key: ``Authorization: Bearer <key>`` on every endpoint but ``/healthz``.

It is a middleware rather than a route dependency so that nothing escapes it: the OpenAPI page,
``/metrics`` and unknown paths are all closed when a key is configured. Liveness stays open
because an orchestrator's probe must not need a secret to see that the process is up. The
OpenAPI document declares the scheme (:mod:`bitcluster.serving.docs.openapi`).

Whether a service may run without a key is decided here too (:func:`key_policy`): on a loopback
address it may, on any other only when told so explicitly, since a key forgotten in a deployment
(an unset variable that compose passes as ``""``) would otherwise open the service to the network.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from bitcluster.serving.errors import error_response

# Probes: liveness, and the Open Inference Protocol's health checks that Kubernetes calls (readiness
# answers 503 until the model is loaded, and says nothing about it).
OPEN_PATHS = frozenset({"/healthz", "/v2/health/live", "/v2/health/ready"})
# What is stripped from both the configured key and the bearer token (ASCII whitespace, as bytes.strip).
WHITESPACE = " \t\n\r\x0b\x0c"


def normalized_key(key: str) -> str:
    """``key`` as it is compared: surrounding whitespace (a secret file's newline) stripped.

    The bearer token is stripped the same way, so a key read from a file matches the token sent.
    Raises ValueError for a key that is only whitespace: it could never be sent.
    """
    stripped = key.strip(WHITESPACE)
    if not stripped:
        raise ValueError("the API key is empty or only whitespace: set a real key, or none")
    return stripped


def bearer_token(scope: Scope) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header, stripped as keys are, or None."""
    header = dict(scope["headers"]).get(b"authorization", b"")
    scheme, _, token = header.partition(b" ")
    token = token.strip(WHITESPACE.encode())
    return token if scheme.lower() == b"bearer" and token else None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for 0.0.0.0 and any other."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def key_policy(host: str, has_key: bool, allow_no_key: bool) -> tuple[int, str]:
    """The log level and line that say how a service bound to ``host`` is protected.

    Raises ValueError when it would listen beyond loopback without a key and ``allow_no_key``
    was not given: the service must refuse to start.
    """
    if has_key:
        return logging.INFO, f"API key required on every route but the health probes (listening on {host})"
    if is_loopback(host):
        return logging.INFO, f"no API key: every route is open, on the loopback address {host} only"
    if not allow_no_key:
        raise ValueError(f"refusing to listen on {host} without an API key: set BITCLUSTER_API_KEY (or "
                         "BITCLUSTER_API_KEY_FILE), or BITCLUSTER_ALLOW_NO_KEY=1 (--allow-no-key) to serve "
                         "every route to anyone who can reach it")
    return logging.WARNING, (f"no API key on {host} (BITCLUSTER_ALLOW_NO_KEY): every route is open to anyone "
                             "who can reach this address")


class APIKeyMiddleware:
    """401 for any request but ``/healthz`` without the configured bearer key."""

    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self.key = normalized_key(api_key).encode()

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

