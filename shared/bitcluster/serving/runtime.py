"""Inference off the event loop, with a deadline. Sessions are opened by :mod:`bitcluster.core.onnx_model`."""

from __future__ import annotations

from functools import partial
from typing import Callable, TypeVar

import anyio
import onnxruntime as ort

from bitcluster.serving.errors import ServiceError

T = TypeVar("T")


async def run_with_deadline(work: Callable[[ort.RunOptions], T], timeout_s: float) -> T:
    """Run ``work(run_options)`` in a worker thread; 504 after ``timeout_s`` seconds.

    On timeout the request is answered at once and ``run_options.terminate`` asks onnxruntime to
    abandon the run, so a runaway batch does not keep a core busy for nobody.
    """
    run_options = ort.RunOptions()
    try:
        with anyio.fail_after(timeout_s):
            return await anyio.to_thread.run_sync(partial(work, run_options), abandon_on_cancel=True)
    except TimeoutError:
        run_options.terminate = True
        raise ServiceError(504, "timeout", f"the request's work took longer than {timeout_s:g} s; "
                                           "send smaller batches") from None
