"""A small exported model whose training codes are known: codes sampled from its own BMM.

The classifier is the real export path's (``bmm_classifier_half``, traced), the novelty reference
the one :func:`~bitcluster.training.export.novelty.novelty_reference` makes from those codes, so
tests can compare the graph and the flags with float64 numpy on codes drawn like the training
set, and on uniform random codes, which such a peaked mixture finds very unlikely.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bitcluster.core.codes import code_bytes, pack_codes
from bitcluster.core.mixture import bmm_log_joint, logsumexp
from bitcluster.core.preprocessing import Preprocessing

SIDE = 8


@dataclass
class NoveltyModel:
    dir: Path
    bits: int
    log_pi: np.ndarray
    means: np.ndarray
    training: np.ndarray  # (N, bits) in {0, 1}

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` codes (n, bits) drawn from the BMM, like the training codes."""
        rng = np.random.default_rng(seed)
        k = rng.choice(len(self.log_pi), size=n, p=np.exp(self.log_pi))
        return (rng.random((n, self.bits)) < self.means[k]).astype(np.uint8)

    def log_likelihood(self, z: np.ndarray) -> np.ndarray:
        """float64 numpy ``log p(z)``."""
        return logsumexp(bmm_log_joint(z, self.log_pi, self.means), axis=1)


def write_novelty_model(out: Path, bits: int = 20, clusters: int = 4, n_train: int = 5000, seed: int = 0,
                        novelty: bool = True) -> NoveltyModel:
    from bitcluster.training.export import (VabEncoderHalf, bmm_classifier_half, classifier_onnx, encoder_onnx,
                                            write_model_dir)
    from bitcluster.training.export.novelty import novelty_reference

    rng = np.random.default_rng(seed)
    means = np.where(rng.random((clusters, bits)) < 0.5, 0.08, 0.92)
    log_pi = np.log(rng.dirichlet(np.full(clusters, 5.0)))
    model = NoveltyModel(Path(out), bits, log_pi, means, np.empty((0, bits)))
    model.training = model.sample(n_train, seed + 1)
    n_pixels = SIDE * SIDE
    layers = [(rng.normal(0, 1, (bits, n_pixels)).astype(np.float32), np.zeros(bits, np.float32))]
    half = bmm_classifier_half(log_pi, means)
    write_model_dir(out, encoder_onnx(VabEncoderHalf.from_layers(layers), n_pixels),
                    classifier_onnx(half, code_bytes(bits)), method="synthetic", bits=bits, clusters=clusters,
                    preprocessing=Preprocessing(SIDE, SIDE).to_dict(), metrics={}, training={"seed": seed},
                    novelty=novelty_reference(half, pack_codes(model.training)) if novelty else None)
    return model


@pytest.fixture(scope="session")
def novelty_model(tmp_path_factory) -> NoveltyModel:
    return write_novelty_model(tmp_path_factory.mktemp("novelty_model"))


@pytest.fixture(scope="session")
def model_without_novelty(tmp_path_factory) -> NoveltyModel:
    return write_novelty_model(tmp_path_factory.mktemp("no_novelty_model"), novelty=False)
