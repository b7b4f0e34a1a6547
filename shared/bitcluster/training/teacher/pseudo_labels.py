"""Unsupervised pseudo-labels from an embedding: UMAP, then a full-covariance Gaussian mixture.

N2D (McConville et al., 2020): a manifold learner on autoencoder features exposes clusters a
mixture on the raw features misses. The GMM on a UMAP embedding has poor local optima (two
classes merged, another split), so EM is restarted and the restart of highest likelihood is kept.
Labels are never involved.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from bitcluster.training.teacher.config import TeacherConfig


@dataclass
class MixtureFit:
    """What the clustering step returns.

    Attributes
    ----------
    manifold : (N, C) float32 UMAP embedding the mixture was fitted on
    responsibilities : (N, K) float64, rows sum to 1
    log_likelihood : mean log-likelihood per point of the kept restart
    seconds : wall time of each step, ``umap`` and ``gmm``
    """

    manifold: np.ndarray
    responsibilities: np.ndarray
    log_likelihood: float
    seconds: dict[str, float] = field(default_factory=dict)


def umap_embedding(features: np.ndarray, clusters: int, seed: int, config: TeacherConfig) -> np.ndarray:
    """UMAP of ``features`` (N, F) into ``config.umap_components`` (default K) dimensions: (N, C) float32."""
    import umap

    n = len(features)
    components = min(config.umap_components or clusters, max(1, n - 2))
    neighbors = max(2, min(config.umap_neighbors, n - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UMAP warns that a seed disables its parallelism
        reducer = umap.UMAP(n_components=components, n_neighbors=neighbors, min_dist=config.umap_min_dist,
                            random_state=seed)
        return reducer.fit_transform(features).astype(np.float32)


def fit_mixture(manifold: np.ndarray, clusters: int, seed: int, config: TeacherConfig) -> MixtureFit:
    """Full-covariance GMM with ``config.gmm_restarts`` EM restarts on ``manifold`` (N, C)."""
    from sklearn.mixture import GaussianMixture

    if len(manifold) < clusters:
        raise ValueError(f"cannot find {clusters} clusters in {len(manifold)} images; lower --clusters")
    gmm = GaussianMixture(clusters, covariance_type="full", n_init=config.gmm_restarts, random_state=seed,
                          reg_covar=config.gmm_reg_covar)
    gmm.fit(manifold)  # sklearn keeps the restart with the highest likelihood bound
    return MixtureFit(manifold, gmm.predict_proba(manifold), float(gmm.score(manifold)))


def pseudo_labels(features: np.ndarray, clusters: int, seed: int, config: TeacherConfig) -> MixtureFit:
    """Soft pseudo-labels of ``features`` (N, F): UMAP, then the GMM of highest likelihood.

    The one pseudo-label function: the teacher applies it to its autoencoder's embedding, the
    ``own`` recipe (:mod:`.own_features`) to a run's own features.
    """
    t0 = time.perf_counter()
    manifold = umap_embedding(features, clusters, seed, config)
    t1 = time.perf_counter()
    fit = fit_mixture(manifold, clusters, seed, config)
    fit.seconds = {"umap": t1 - t0, "gmm": time.perf_counter() - t1}
    return fit
