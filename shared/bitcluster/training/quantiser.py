"""The uniform quantiser a continuous latent is shipped through, and how a bit budget is split.

A quantised latent is the latent plus the quantisation error, roughly uniform over one step and
so of variance ``step^2 / 12`` per dimension. A mixture fitted on continuous latents has
components far narrower than a step along some directions; read as is on quantised latents it
sends nearly everything to its broadest component. :meth:`GaussianMixtureParams.with_noise`
widens each covariance by that variance, which is the mixture of the quantised latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitcluster.core.mixture import GaussianMixtureParams

# A level fits one byte, which is what the exported graph bit-shifts.
MAX_BITS_PER_DIM = 8


@dataclass
class UniformQuantiser:
    """Uniform scalar quantiser of each latent dimension over a range fixed from training latents.

    ``b`` bits per dimension give ``L = 2^b - 1`` steps: ``level = round((clip(z) - low) * L / (high - low))``.
    Computed in float32 in the same order as the exported graph, so both give the same levels.

    Attributes
    ----------
    low, high : (d,) float32
    """

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, z: np.ndarray, tail: float = 0.001) -> "UniformQuantiser":
        """Range from the ``tail`` and ``1 - tail`` quantiles of the training latents ``z`` (N, d)."""
        low = np.quantile(z, tail, axis=0).astype(np.float32)
        high = np.quantile(z, 1.0 - tail, axis=0).astype(np.float32)
        return cls(low, np.maximum(high, low + np.float32(1e-6)))

    def scale(self, bits_per_dim: int) -> np.ndarray:
        """Levels per unit of latent: (d,) float32."""
        check_bits_per_dim(bits_per_dim)
        return (np.float32(2**bits_per_dim - 1) / (self.high - self.low)).astype(np.float32)

    def step(self, bits_per_dim: int) -> np.ndarray:
        """Latent units per level: (d,) float32."""
        check_bits_per_dim(bits_per_dim)
        return ((self.high - self.low) / np.float32(2**bits_per_dim - 1)).astype(np.float32)

    def levels(self, z: np.ndarray, bits_per_dim: int) -> np.ndarray:
        """Integer levels in ``0 .. 2^b - 1``: (N, d) uint8."""
        x = (np.asarray(z, dtype=np.float32) - self.low) * self.scale(bits_per_dim)
        return np.clip(np.rint(x), 0, 2**bits_per_dim - 1).astype(np.uint8)

    def values(self, levels: np.ndarray, bits_per_dim: int) -> np.ndarray:
        """The latent each level stands for: (N, d) float32."""
        return self.low + np.asarray(levels, dtype=np.float32) * self.step(bits_per_dim)

    def roundtrip(self, z: np.ndarray, bits_per_dim: int) -> np.ndarray:
        return self.values(self.levels(z, bits_per_dim), bits_per_dim)

    def noise_variance(self, bits_per_dim: int) -> np.ndarray:
        """Variance of a quantisation error uniform over one step: ``step^2 / 12``, (d,)."""
        return self.step(bits_per_dim).astype(np.float64) ** 2 / 12.0


def quantised_mixture(mixture: GaussianMixtureParams, quantiser: UniformQuantiser,
                      bits_per_dim: int) -> GaussianMixtureParams:
    """The mixture that the consumer applies to dequantised latents (see the module docstring)."""
    return mixture.with_noise(quantiser.noise_variance(bits_per_dim))


def bit_allocation(bits: int, latent_dim: int, max_bits_per_dim: int = MAX_BITS_PER_DIM) -> np.ndarray:
    """A budget of ``bits`` per image split as evenly as the whole bits allow: (d,) int, summing to ``bits``.

    The first ``bits % d`` dimensions get one bit more; with fewer bits than dimensions the last
    ones get none (they are sent as nothing and read back as the middle of their range).
    """
    bits, latent_dim = int(bits), int(latent_dim)
    if not 1 <= bits <= max_bits_per_dim * latent_dim:
        raise ValueError(f"a budget of {bits} bits does not fit {latent_dim} dimensions of 0..{max_bits_per_dim} bits")
    allocation = np.full(latent_dim, bits // latent_dim, dtype=np.int64)
    allocation[:bits % latent_dim] += 1
    return allocation


def allocated_roundtrip(quantiser: UniformQuantiser, z: np.ndarray, allocation: np.ndarray) -> np.ndarray:
    """``z`` through a uniform quantiser of ``allocation[j]`` bits in dimension ``j``: (N, d) float32.

    A dimension of 0 bits carries nothing and reads back as the middle of its range.
    """
    steps = (2.0 ** np.asarray(allocation) - 1).astype(np.float32)
    span = quantiser.high - quantiser.low
    per_level = np.where(steps > 0, steps, 1).astype(np.float32)
    levels = np.clip(np.rint((np.asarray(z, dtype=np.float32) - quantiser.low) * per_level / span), 0, per_level)
    values = quantiser.low + levels * span / per_level
    return np.where(steps > 0, values, quantiser.low + span / 2).astype(np.float32)


def allocated_noise_variance(quantiser: UniformQuantiser, allocation: np.ndarray) -> np.ndarray:
    """Variance of the quantisation error of :func:`allocated_roundtrip`: ``step^2 / 12``, the whole range for 0 bits."""
    steps = np.maximum(2.0 ** np.asarray(allocation) - 1, 1.0)
    return ((quantiser.high - quantiser.low).astype(np.float64) / steps) ** 2 / 12.0


def check_bits_per_dim(bits_per_dim: int) -> None:
    if not 1 <= int(bits_per_dim) <= MAX_BITS_PER_DIM:
        raise ValueError(f"bits per latent dimension must be 1..{MAX_BITS_PER_DIM}, got {bits_per_dim}")


def bits_per_dim_for(bits: int, latent_dim: int) -> int:
    """Whole bits per dimension that fit a budget of ``bits`` per image (at least 1, at most 8)."""
    return int(np.clip(int(bits) // latent_dim, 1, MAX_BITS_PER_DIM))
