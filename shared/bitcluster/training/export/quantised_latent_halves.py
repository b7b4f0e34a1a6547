"""The latent baselines' two halves (ae-*, convae-*, vade, vc) as torch modules.

The vendor's encoder ends in a uniform quantiser instead of VAB's binary code, so the consumer
still receives a short bit string:

* :class:`LatentEncoderHalf`: ``images`` (N, P) -> the method's latent ``z`` (N, d) -> levels
  ``clip(round((z - low) * scale), 0, 2^b - 1)`` (:class:`~bitcluster.training.quantiser.UniformQuantiser`,
  same float32 order) -> each level's ``b`` bits, most significant first, dimension after
  dimension (code bit ``i b + j`` is bit ``b - 1 - j`` of dimension ``i``'s level) -> packed
  ``codes`` (N, ceil(d b / 8)) uint8;
* :class:`GaussianMixtureClassifierHalf`: ``codes`` -> levels -> ``z_hat = low + level * step``
  -> ``log pi_k + log N(z_hat; mu_k, Sigma_k)`` -> ``clusters`` (N,) int64, ``posteriors`` (N, K),
  ``log_likelihood`` (N,): the mixture's log density at ``z_hat``.
  The mixture is given already widened by the quantisation noise
  (:func:`~bitcluster.training.quantiser.quantised_mixture`), exactly as ``evaluate`` scores ``acc_quantised``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bitcluster.core.codes import msb_first_place_values
from bitcluster.core.mixture import GaussianMixtureParams
from bitcluster.training.export.bit_packing import PackBits, PlaceValuedBits, place_valued_weights
from bitcluster.training.export.halves import classifier_outputs
from bitcluster.training.quantiser import UniformQuantiser, check_bits_per_dim


def _f32(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


class LatentEncoderHalf(nn.Module):
    """The vendor's half of a latent method: images (N, P) float32 -> packed codes (N, ceil(d b / 8)) uint8.

    Parameters
    ----------
    latent : the trained network, images (N, P) -> latent (N, d); shared, not copied
    quantiser : the range fixed at training
    bits_per_dim : b, 1..8 (a level fits a byte)
    """

    def __init__(self, latent: nn.Module, quantiser: UniformQuantiser, bits_per_dim: int):
        super().__init__()
        check_bits_per_dim(bits_per_dim)
        self.latent = latent
        self.top = float(2**bits_per_dim - 1)
        self.register_buffer("low", _f32(quantiser.low))
        self.register_buffer("scale", _f32(quantiser.scale(bits_per_dim)))
        self.register_buffer("level_masks", torch.from_numpy(msb_first_place_values(bits_per_dim).astype(np.uint8)))
        self.pack = PackBits(len(quantiser.low) * bits_per_dim)

    def levels(self, images: torch.Tensor) -> torch.Tensor:
        """Quantisation levels (N, d) uint8, as ``UniformQuantiser.levels`` computes them."""
        scaled = (self.latent(images) - self.low) * self.scale
        return torch.clamp(torch.round(scaled), 0.0, self.top).to(torch.uint8)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        level_bits = torch.bitwise_and(self.levels(images).unsqueeze(2), self.level_masks) != 0   # (N, d, b)
        return self.pack(level_bits.flatten(1))


class GaussianMixtureClassifierHalf(nn.Module):
    """The consumer's half of a latent method: packed codes -> clusters (N,) int64, posteriors (N, K) float32.

    The log joint is computed as ``const_k - |z P_k - mu_k P_k|^2 / 2``, where ``P_k`` is the
    Cholesky factor of the precision (``P_k P_k^T = Sigma_k^-1``).

    Parameters
    ----------
    mixture : the mixture to apply to dequantised latents (widen it first)
    quantiser : the encoder's quantiser
    bits_per_dim : b
    """

    def __init__(self, mixture: GaussianMixtureParams, quantiser: UniformQuantiser, bits_per_dim: int):
        super().__init__()
        check_bits_per_dim(bits_per_dim)
        d, b = len(quantiser.low), bits_per_dim
        self.unpack = PlaceValuedBits()
        # code bit i b + j carries 2^(b-1-j) of dimension i's level: summing is one matmul
        bit_to_level = np.zeros((d * b, d))
        i = np.arange(d * b)
        bit_to_level[i, i // b] = msb_first_place_values(b)[i % b]
        self.register_buffer("bit_to_level", torch.from_numpy(place_valued_weights(bit_to_level)))  # (8B, d)
        self.register_buffer("low", _f32(quantiser.low))
        self.register_buffer("step", _f32(quantiser.step(b)))

        p = mixture.full_precision_cholesky()                                                  # (K, d, d)
        log_det = np.log(np.diagonal(p, axis1=1, axis2=2)).sum(axis=1)
        self.register_buffer("precision_cholesky", _f32(p))
        self.register_buffer("mean_times_p", _f32(np.einsum("kd,kde->ke", mixture.means, p)[:, None, :]))  # (K, 1, d)
        self.register_buffer("const", _f32(mixture.log_pi + log_det - 0.5 * mixture.dim * np.log(2 * np.pi)))

    def dequantised(self, codes: torch.Tensor) -> torch.Tensor:
        """``z_hat = low + level * step``: (N, d) float32, as ``UniformQuantiser.values`` computes it."""
        level = self.unpack(codes) @ self.bit_to_level
        return self.low + level * self.step

    def log_joint(self, codes: torch.Tensor) -> torch.Tensor:
        """``log pi_k + log N(z_hat; mu_k, Sigma_k)``: (N, K) float32."""
        y = self.dequantised(codes).unsqueeze(0) @ self.precision_cholesky - self.mean_times_p     # (K, N, d)
        return (y * y).sum(dim=2).T * -0.5 + self.const

    def forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return classifier_outputs(self.log_joint(codes))
