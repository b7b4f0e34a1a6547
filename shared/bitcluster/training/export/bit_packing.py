"""Packing and unpacking codes inside a torch module, so that the traced ONNX graph does it.

The bit order is :mod:`bitcluster.core.codes`'s: both modules take their place values from
:func:`~bitcluster.core.codes.bit_place_values`, and packing or unpacking is one MatMul, not a
loop over bits. Every product involved is exact in float32 (sums of distinct powers of two up
to 255 and their quotients by powers of two).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bitcluster.core.codes import bit_place_values, code_bytes, msb_first_place_values


def packing_matrix(bits: int) -> np.ndarray:
    """(D, B) float32 with ``P[d, d // 8] = 2^(7 - d % 8)``: packing as a product ``z @ P``."""
    matrix = np.zeros((bits, code_bytes(bits)), dtype=np.float32)
    d = np.arange(bits)
    matrix[d, d // 8] = bit_place_values(bits)
    return matrix


class PackBits(nn.Module):
    """Binary codes (N, D) in {0, 1}, any dtype -> packed codes (N, ceil(D / 8)) uint8, MSB first."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits
        self.register_buffer("place", torch.from_numpy(packing_matrix(bits)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z.to(torch.float32) @ self.place).to(torch.uint8)


class PlaceValuedBits(nn.Module):
    """Packed codes (N, B) uint8 -> (N, 8 B) float32 holding ``z_d * 2^(7 - d % 8)``, padding included.

    Unpacking stops one step short of 0/1: shifting each masked bit down would cost an op per
    element, while the linear layer that reads the bits can divide the place value out of its
    weights for free (:func:`place_valued_weights`). One BitwiseAnd and one Cast.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("masks", torch.from_numpy(msb_first_place_values(8).astype(np.uint8)))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        masked = torch.bitwise_and(codes.unsqueeze(2), self.masks)    # (N, B, 8), MSB first
        return masked.to(torch.float32).flatten(1)


def place_valued_weights(weights: np.ndarray) -> np.ndarray:
    """Weights (D, K) on bits -> (8 ceil(D / 8), K) float32 on :class:`PlaceValuedBits`' output.

    Row ``d`` is divided by bit ``d``'s place value (exact: a power of two); the rows of the
    padding bits are zero, so ``PlaceValuedBits()(pack(z)) @ result == z @ weights``.
    """
    bits = weights.shape[0]
    out = np.zeros((8 * code_bytes(bits), weights.shape[1]), dtype=np.float32)
    out[:bits] = np.asarray(weights, dtype=np.float32) / bit_place_values(bits)[:, None].astype(np.float32)
    return out
