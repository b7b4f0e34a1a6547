"""Colour images for the tests: scikit-learn's digits, each tinted by a random colour that carries no class."""

from __future__ import annotations

import numpy as np

TINT_LOW = 0.3  # each channel of a tint is uniform in [0.3, 1]: never black, rarely grey


def tinted_digits(n: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` digits (all when None) in colour: each 8x8 digit times its own random tint.

    Returns
    -------
    (N, 8, 8, 3) uint8 RGB images (digit * tint, tint ~ U[0.3, 1]^3 per image) and (N,) int64 labels
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = digits.images[:n] * (255.0 / 16.0)
    tint = np.random.default_rng(seed).uniform(TINT_LOW, 1.0, (len(grey), 1, 1, 3))
    return np.rint(grey[..., None] * tint).astype(np.uint8), digits.target[:n].astype(np.int64)
