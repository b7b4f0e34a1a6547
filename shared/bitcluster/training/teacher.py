"""Unsupervised pseudo-labels: UMAP on autoencoder features, then a Gaussian mixture.

The recipe follows N2D (McConville et al., 2020): a manifold learner on top of autoencoder
features finds clusters that a mixture on the raw features misses. No labels are involved.
"""

from __future__ import annotations

import warnings

import numpy as np


def pseudo_labels(features: np.ndarray, clusters: int, seed: int, n_components: int = 10,
                  n_neighbors: int = 10) -> np.ndarray:
    """Soft cluster responsibilities for each row of ``features``.

    Parameters
    ----------
    features : (N, F) float array
    clusters : K

    Returns
    -------
    (N, K) float64 responsibilities (rows sum to 1)
    """
    from sklearn.mixture import GaussianMixture

    n = len(features)
    emb = features
    if n > n_neighbors + 2:
        import umap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # UMAP warns that a seed disables its parallelism
            emb = umap.UMAP(n_components=min(n_components, n - 2), n_neighbors=n_neighbors, min_dist=0.0,
                            random_state=seed).fit_transform(features)
    gmm = GaussianMixture(clusters, covariance_type="full", n_init=3, random_state=seed, reg_covar=1e-4)
    return gmm.fit(emb).predict_proba(emb)
