"""Fixtures the training tests share."""

import numpy as np
import pytest


@pytest.fixture
def small_npz(tmp_path):
    """A user's .npz of 120 random 8x8 images with labels 0-2 (a fixed 80/20 split is made)."""
    rng = np.random.default_rng(0)
    path = tmp_path / "small.npz"
    np.savez(path, x=rng.uniform(0, 1, (120, 8, 8)).astype(np.float32), y=np.arange(120) % 3)
    return path
