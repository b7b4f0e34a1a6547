"""Binary Gumbel-Softmax (binary concrete) sampling with a straight-through hard sample.

For a Bernoulli with logit ``l``, the two-class Gumbel-Softmax of the paper's eq. 7 reduces to
``y = sigmoid((l + log u - log(1 - u)) / tau)`` with ``u ~ U(0, 1)``: the difference of two
Gumbel(0, 1) variables is a Logistic(0, 1) variable.
"""

from __future__ import annotations

import torch

from bitcluster.training.device import noise_device


def logistic_noise(shape: torch.Size, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Logistic(0, 1) samples, i.e. the difference of two Gumbel(0, 1) samples."""
    u = torch.rand(shape, generator=generator, device=noise_device(generator, device)).to(device)
    u = u.clamp_(1e-6, 1 - 1e-6)
    return torch.log(u) - torch.log1p(-u)


class _StraightThrough(torch.autograd.Function):
    """Forward ``1[y > 0.5]`` exactly (``hard + y - y.detach()`` would round 1 to 0.99999994); backward identity."""

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        return (y > 0.5).to(y.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def binary_concrete(logits: torch.Tensor, tau: float, hard: bool = True,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Relaxed Bernoulli sample of shape ``logits.shape``.

    With ``hard=True`` the forward value is the binary sample ``1[y > 0.5]`` and the gradient is
    that of the relaxed ``y`` (straight-through), so the decoder and the mixture prior see the
    same kind of codes as at inference.
    """
    y = torch.sigmoid((logits + logistic_noise(logits.shape, generator, logits.device)) / tau)
    if not hard:
        return y
    return _StraightThrough.apply(y)


def deterministic_code(logits: torch.Tensor) -> torch.Tensor:
    """The code at inference: ``z = 1[q(z|x) > 0.5]``, i.e. ``1[logit > 0]``, as uint8."""
    return (logits > 0).to(torch.uint8)
