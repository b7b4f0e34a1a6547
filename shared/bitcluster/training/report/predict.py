"""The test clusters of a saved run, to draw its pictures after training.

The decision each method's ``evaluate`` makes, one line per family of methods.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bitcluster.data import Dataset
from bitcluster.training.methods import get_method
from bitcluster.training.runs import read_config


def predict_clusters(method: str, state, x: np.ndarray) -> np.ndarray:
    """The cluster decision of each method's ``evaluate``, for images ``x`` (N, P) -> (N,)."""
    from bitcluster.training.loop import in_chunks

    if method in ("vab", "vab-paper"):
        from bitcluster.training.methods.scoring import vab_outputs

        return vab_outputs(state, x)["clusters"]
    if method in ("kmeans", "gmm"):
        return state.predict(x)
    if method.endswith(("-kmeans", "-gmm")):
        return state.mixture.predict(state.latent(x))
    if method in ("kdae", "kdvae"):
        return in_chunks(state.assign, x)
    if method == "vade":
        return in_chunks(state.model.classify, in_chunks(state.model.encode, x))
    if method == "vc":
        return in_chunks(state.model.classify, x)
    raise ValueError(f"cannot cluster images with a {method!r} run: predict_clusters knows no such method")


def predict_test_clusters(run_dir: Path, dataset: Dataset) -> np.ndarray:
    """Load the run's model and cluster ``dataset.x_test`` with it.

    Returns
    -------
    (N_test,) int64 cluster of each test image
    """
    method = read_config(run_dir)["method"]
    state = get_method(method).load(Path(run_dir))
    return np.asarray(predict_clusters(method, state, dataset.x_test), dtype=np.int64).ravel()
