"""What the client raises: a service's refusal, and a batch job that cannot go on."""

from __future__ import annotations

import re

from bitcluster.core import model_mismatch

# How a service's message names an item of its request: ``files[3]`` (multipart) or ``images[3]`` (JSON).
ITEM_NAME = re.compile(r"\b(files|images)\[(\d+)\]")


class BitclusterError(RuntimeError):
    """A service refused a request; ``code`` is the service's error code (e.g. ``batch_too_large``).

    ``retry_after_s`` is the service's ``Retry-After`` hint, when it sent one.
    """

    def __init__(self, status: int, code: str, message: str, url: str, retry_after_s: float | None = None):
        super().__init__(f"{url} answered {status} {code}: {message}")
        self.status, self.code, self.message, self.url = status, code, message, url
        self.retry_after_s = retry_after_s

    def items_from(self, offset: int) -> "BitclusterError":
        """This error of a request that sent a larger batch's items from ``offset`` on, naming them by
        their place in that batch (``files[2]`` of the second half of 8 images is ``files[6]``)."""
        message = ITEM_NAME.sub(lambda m: f"{m.group(1)}[{int(m.group(2)) + offset}]", self.message)
        return type(self)(self.status, self.code, message, self.url, self.retry_after_s)


class ModelMismatchError(BitclusterError, model_mismatch.ModelMismatchError):
    """A service refused codes of another model (409), or the vendor switched models mid-request.

    The HTTP face of :class:`bitcluster.core.model_mismatch.ModelMismatchError` (``bc.ModelMismatchError``),
    so one ``except`` catches the refusal in process and over HTTP.
    """


class BatchJobError(RuntimeError):
    """The job cannot go on. Results already written stay valid; the message says what to do."""
