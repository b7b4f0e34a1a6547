"""How training computes: ``--precision auto|fp32|bf16``, and what stays in float32 whatever is chosen.

``bf16`` runs the forward passes of the one training loop (:func:`bitcluster.training.loop.train_epochs`)
under ``torch.autocast(..., dtype=torch.bfloat16)``: the matrix products run in bfloat16 where the
hardware multiplies it natively (AVX512-BF16 and AMX on x86 CPUs, tensor cores on GPUs), at about
twice the speed of float32 (``bench/results/precision.md``). Everything else stays float32:

* parameters and Adam's state (autocast casts a copy of each weight for the product, per step);
* the losses: a function decorated with :func:`in_float32` (the BMM log-likelihood, the ELBO's
  terms, the reconstruction losses) runs outside autocast on float32 inputs, so that the
  log-likelihoods, ``logsumexp`` / ``log_softmax`` and the KL terms are summed in float32;
* everything outside the loop's step: codes, features, EM refits, UMAP and the GMM (numpy).

``auto`` picks ``bf16`` where it is native and ``fp32`` elsewhere: bfloat16 emulated on a CPU
without those instructions is slower than float32, not faster.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any, Callable, ContextManager, TypeVar

import torch

PRECISIONS = ("auto", "fp32", "bf16")
RESOLVED = ("fp32", "bf16")
# The CPU flags (Linux /proc/cpuinfo names) of native bfloat16 arithmetic.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")

F = TypeVar("F", bound=Callable[..., Any])


class PrecisionUnavailableError(ValueError):
    """A precision was asked for that this device, or this method, does not train in."""


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The CPU's feature flags from ``cpuinfo`` (the first ``flags`` line); empty where there is no such file."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:  # not Linux: no flags known, so auto stays fp32
        return set()
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == "flags":
            return set(value.split())
    return set()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 natively: a CUDA device torch says supports it, a CPU with
    AVX512-BF16 or AMX-BF16 (torch's ``get_cpu_capability`` names the AVX level only, not these)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return any(flag in cpu_flags() for flag in CPU_BF16_FLAGS)


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where :func:`native_bf16`, else ``fp32``; ``fp32``; ``bf16``.

    ``bf16`` on a CUDA device without it is a :class:`PrecisionUnavailableError`; on a CPU without
    native bfloat16 it is allowed (it computes the same, slowly).
    """
    if name not in PRECISIONS:
        raise PrecisionUnavailableError(f"--precision takes {', '.join(PRECISIONS)}, not {name!r}")
    device = torch.device(device)
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise PrecisionUnavailableError(f"--precision bf16: the CUDA device {device} has no bfloat16; "
                                        "use --precision fp32 or auto")
    return name


def autocast(precision: str, device: torch.device) -> ContextManager:
    """The context a training step's forward pass runs in: bfloat16 autocast for ``bf16``, nothing for ``fp32``."""
    if precision not in RESOLVED:
        raise PrecisionUnavailableError(f"a training step runs in {' or '.join(RESOLVED)}, not {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def _float32(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.float()
    if isinstance(value, dict):
        return {k: _float32(v) for k, v in value.items()}
    return value


def in_float32(fn: F) -> F:
    """``fn`` run with autocast off and its floating tensor arguments (and dicts of them) cast to float32.

    For the numerically delicate parts of a loss under ``bf16``: a log-likelihood, a
    ``log_softmax`` over clusters, a KL term summed over thousands of pixels. Under ``fp32`` the
    casts are no-ops.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = [_float32(a) for a in args], {k: _float32(v) for k, v in kwargs.items()}
        device_types = {t.device.type for t in [*args, *kwargs.values()] if isinstance(t, torch.Tensor)}
        with contextlib.ExitStack() as stack:
            for device_type in device_types or {"cpu"}:
                stack.enter_context(torch.autocast(device_type, enabled=False))
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
