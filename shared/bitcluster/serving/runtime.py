"""Inference off the event loop, with a deadline. Sessions are opened by :mod:`bitcluster.core.onnx_model`.

The work of a request gets one ``onnxruntime.RunOptions``; its ``terminate`` flag is the
request's cancel flag. At the deadline the request is answered 504 at once and the flag is set:
ONNX Runtime abandons the run, and work that loops in Python (the vendor decodes images one at a
time) calls :func:`bitcluster.core.cancellation.raise_if_cancelled` between steps. A
:class:`WorkSlots` slot is given back when the worker thread has really ended, not when its
request gave up, so abandoned work still counts against the limit.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Callable, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import onnxruntime as ort

from bitcluster.core.cancellation import WorkCancelled
from bitcluster.serving.errors import ServiceError

T = TypeVar("T")


class WorkSlots:
    """At most ``total`` pieces of heavy work at a time, each holding a slot until its thread ends.

    A request that finds every slot taken waits for one, within its deadline, then gets 503.
    """

    def __init__(self, total: int):
        self.total = total
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use, inside the event loop

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.total)
        return self._limiter

    @property
    def busy(self) -> int:
        return 0 if self._limiter is None else self._limiter.borrowed_tokens


class _Slot:
    """One borrowed slot, given back exactly once: by the worker thread when it ends, or by the
    request when its work never started."""

    def __init__(self, limiter: anyio.CapacityLimiter):
        self.limiter = limiter
        self.token = anyio.lowlevel.current_token()
        self._lock = threading.Lock()
        self._started = self._returned = False

    def start(self) -> bool:
        """In the worker thread: claim the slot for the work; False if the request gave it back already."""
        with self._lock:
            self._started = True
            return not self._returned

    def give_back_unstarted(self) -> None:
        """On the event loop, after a timeout: give the slot back unless a thread runs with it."""
        with self._lock:
            if self._started or self._returned:
                return
            self._returned = True
        self.limiter.release_on_behalf_of(self)

    def give_back_from_thread(self) -> None:
        with self._lock:
            if self._returned:
                return
            self._returned = True
        try:
            anyio.from_thread.run_sync(self.limiter.release_on_behalf_of, self, token=self.token)
        except RuntimeError:
            pass  # the event loop is gone (shutdown): nobody waits for the slot any more


def _in_slot(work: Callable[[ort.RunOptions], T], run_options: ort.RunOptions, slot: _Slot | None) -> T:
    if slot is None:
        return work(run_options)
    try:
        if not slot.start() or run_options.terminate:
            raise WorkCancelled()
        return work(run_options)
    finally:
        slot.give_back_from_thread()


async def run_with_deadline(work: Callable[[ort.RunOptions], T], timeout_s: float,
                            slots: WorkSlots | None = None) -> T:
    """Run ``work(run_options)`` in a worker thread, in one of ``slots`` if given; 504 after ``timeout_s``.

    On timeout the request is answered at once and ``run_options.terminate`` asks the work to stop
    (ONNX Runtime checks it between nodes, :func:`~bitcluster.core.cancellation.raise_if_cancelled` between
    Python steps). The
    time spent waiting for a slot counts against the deadline; no slot within it is a 503.
    """
    run_options = ort.RunOptions()
    slot = None
    try:
        with anyio.fail_after(timeout_s):
            if slots is not None:
                slot = _Slot(slots.limiter)
                await slots.limiter.acquire_on_behalf_of(slot)
            return await anyio.to_thread.run_sync(partial(_in_slot, work, run_options, slot),
                                                  abandon_on_cancel=True)
    except TimeoutError:
        run_options.terminate = True
        if slots is not None and (slot is None or slot not in slots.limiter.statistics().borrowers):
            raise ServiceError(503, "busy", f"all {slots.total} work slots stayed busy for {timeout_s:g} s; retry "
                                            "shortly (or raise BITCLUSTER_MAX_CONCURRENT_WORK on the service)",
                               headers={"Retry-After": "1"}) from None
        if slot is not None:
            slot.give_back_unstarted()
        raise ServiceError(504, "timeout", f"the request's work took longer than {timeout_s:g} s; "
                                           "send smaller batches") from None
