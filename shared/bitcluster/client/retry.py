"""The one retry policy of the client: retry while a service is down, restarting or overloaded.

A request is retried on connection errors (any ``httpx.TransportError``) and on 502/503/504,
never on a refusal (4xx): encoding and classifying are pure functions of their input, so sending
the same request again is safe. Waits double from ``first_delay_s`` up to ``max_delay_s`` (or
follow the service's ``Retry-After``, within the same cap), and the policy gives up after
``max_attempts`` tries or once ``retry_for_s`` seconds have passed since the first failure,
whichever comes first.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import httpx

from bitcluster.client.errors import BitclusterError

TRANSIENT_STATUSES = (502, 503, 504)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long, and how often, to retry a request whose service is unavailable."""

    retry_for_s: float = math.inf
    first_delay_s: float = 0.2
    max_delay_s: float = 5.0
    max_attempts: int | None = None  # tries in all, the first included; None: bounded by retry_for_s alone


class RetriesExhausted(RuntimeError):
    """The service stayed unavailable past the policy; ``last_error`` is its last failure."""

    def __init__(self, what: str, reason: str, unavailable_s: float, attempts: int, policy: RetryPolicy,
                 last_error: Exception):
        super().__init__(f"{what} has been unavailable for {unavailable_s:.1f} s ({reason}); gave up after "
                         f"{attempts} tries")
        self.what, self.reason, self.unavailable_s = what, reason, unavailable_s
        self.attempts, self.policy, self.last_error = attempts, policy, last_error


def transient_reason(error: Exception) -> str | None:
    """Why ``error`` is worth a retry (a service down, restarting, overloaded), or None."""
    if isinstance(error, httpx.TransportError):
        return type(error).__name__
    if isinstance(error, BitclusterError) and error.status in TRANSIENT_STATUSES:
        return f"{error.status} {error.code}"
    return None


def with_retries(call: Callable[[], T], policy: RetryPolicy, what: str,
                 on_retry: Callable[[str], None] | None = None) -> tuple[T, int]:
    """``call()`` retried under ``policy``; returns its result and the number of retries.

    ``what`` names the service in messages (``"the consumer at http://..."``); ``on_retry`` is told
    of each retry before its wait. Raises the error itself when it is not transient, and
    :class:`RetriesExhausted` when the policy gives up. The last try starts at most
    ``retry_for_s`` seconds after the first failure, so the whole wait is bounded by that plus
    one request's timeout.
    """
    first_failure, delay, attempts = None, policy.first_delay_s, 0
    while True:
        attempts += 1
        try:
            return call(), attempts - 1
        except (httpx.TransportError, BitclusterError) as e:
            reason = transient_reason(e)
            if reason is None:
                raise
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            left = policy.retry_for_s - (now - first_failure)
            if left <= 0 or (policy.max_attempts is not None and attempts >= policy.max_attempts):
                raise RetriesExhausted(what, reason, now - first_failure, attempts, policy, e) from e
            hint = getattr(e, "retry_after_s", None)
            pause = min(hint if hint is not None else delay, policy.max_delay_s, left)
            if on_retry is not None:
                on_retry(f"{what} unavailable ({reason}); retrying in {pause:.1f} s")
            time.sleep(pause)
            delay = min(delay * 2, policy.max_delay_s)
