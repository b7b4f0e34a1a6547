"""Where training runs: ``--device auto|cpu|cuda``, and the few rules that keep a run right on either.

:func:`bitcluster.training.pipeline.train_run` resolves the device and the precision
(:mod:`bitcluster.training.precision`) and trains inside :func:`training_on`; a method builds its
modules and its training tensors on :func:`current_device`, and the training loop computes in
:func:`current_precision`, so the method interface (``train(data, config, progress)``) stays as
it is. The rules, the same for every method:

* modules are built on the CPU (the same initial weights on every device) and moved with ``.to``;
* the data permutation and the sampling noise are drawn from a CPU generator and moved
  (:func:`noise_device`): a seed gives the same stream of batches and noise on every device;
* results go back to numpy through ``.cpu()``; weights are saved from the CPU.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import torch

DEVICES = ("auto", "cpu", "cuda")
_current: ContextVar[torch.device] = ContextVar("bitcluster_training_device", default=torch.device("cpu"))
_precision: ContextVar[str] = ContextVar("bitcluster_training_precision", default="fp32")


class DeviceUnavailableError(ValueError):
    """A device was asked for that this machine or this torch build does not have."""


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cpu``; ``cuda`` (or ``cuda:N``) when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            cuda = torch.version.cuda
            build = "a CPU-only torch build" if cuda is None else f"torch built for CUDA {cuda}"
            raise DeviceUnavailableError(f"--device {name}: no CUDA GPU is available ({build}, "
                                         f"torch {torch.__version__}); use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA "
                                         "device(s)")
        return device
    raise DeviceUnavailableError(f"--device takes {', '.join(DEVICES)} (or cuda:N), not {name!r}")


@contextmanager
def training_on(device: torch.device, precision: str = "fp32") -> Iterator[torch.device]:
    """Train on ``device`` in ``precision`` (``fp32`` or ``bf16``, resolved) inside the block.

    :func:`current_device` and :func:`current_precision` return them there.
    """
    token = _current.set(torch.device(device))
    precision_token = _precision.set(precision)
    try:
        yield _current.get()
    finally:
        _precision.reset(precision_token)
        _current.reset(token)


def current_device() -> torch.device:
    """The device the method being trained builds its modules and tensors on (the CPU outside :func:`training_on`)."""
    return _current.get()


def current_precision() -> str:
    """The precision the training loop computes in: ``fp32`` (outside :func:`training_on`) or ``bf16``."""
    return _precision.get()


def module_device(module: object) -> torch.device:
    """The device of ``module``'s parameters (of the module a bound method belongs to); the CPU for anything else."""
    owner = getattr(module, "__self__", module)
    if isinstance(owner, torch.nn.Module):
        for p in owner.parameters():
            return p.device
    return torch.device("cpu")


def noise_device(generator: torch.Generator | None, device: torch.device | str | None) -> torch.device | str | None:
    """Where to draw noise: on ``generator``'s own device (a CPU generator cannot draw on a GPU), else ``device``.

    Draw there and ``.to(device)`` the result: the same seed then gives the same noise everywhere.
    """
    return generator.device if generator is not None else device


def device_record() -> dict:
    """What a run records about where it trained: ``device`` (``cpu``, ``cuda:0``) and, on a GPU, its name."""
    device = current_device()
    if device.type != "cuda":
        return {"device": "cpu"}
    index = device.index if device.index is not None else torch.cuda.current_device()
    return {"device": f"cuda:{index}", "device_name": torch.cuda.get_device_name(index)}
