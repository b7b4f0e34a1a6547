"""ONNX Runtime: sessions on the best allowed provider, and inference off the event loop."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Callable, TypeVar

import anyio
import onnxruntime as ort

from bitcluster.serving.errors import ServiceError

log = logging.getLogger("uvicorn.error.bitcluster")  # shown by uvicorn's handlers
T = TypeVar("T")

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def choose_providers(allow_gpu: bool) -> list[str]:
    """CUDA first when this onnxruntime build has it and the service allows it; CPU always last."""
    if allow_gpu and CUDA in ort.get_available_providers():
        return [CUDA, CPU]
    return [CPU]


def create_session(onnx_path: Path, *, allow_gpu: bool = False,
                   intra_op_threads: int = 0) -> tuple[ort.InferenceSession, str]:
    """Open ``onnx_path``; returns the session and the provider that actually runs it.

    onnxruntime falls back to CPU when CUDA cannot start (no driver, no GPU visible), so the
    provider is read back from the session rather than assumed.
    """
    providers = choose_providers(allow_gpu)
    if CUDA in providers and hasattr(ort, "preload_dlls"):
        try:  # onnxruntime-gpu >= 1.21 finds CUDA/cuDNN installed as nvidia-* wheels this way
            ort.preload_dlls()
        except Exception as e:  # noqa: BLE001 - a system-wide CUDA may still work
            log.warning("onnxruntime.preload_dlls() failed (%s); relying on the system CUDA libraries", e)
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise here
    session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
    provider = session.get_providers()[0]
    if CUDA in providers and provider != CUDA:
        log.warning("CUDAExecutionProvider is installed but could not start; running on %s", provider)
    return session, provider


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
