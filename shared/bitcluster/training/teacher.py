"""The pseudo-labels of ``vab``'s previous recipe (``teacher="own"``): UMAP + GMM on this run's features.

The recipe follows N2D (McConville et al., 2020), as the representation stage does, and uses its
two steps (:mod:`bitcluster.training.representation.pseudo_labels`); what differs is the input
(the run's own binary encoder's features, PCA-reduced first) and the settings it was tuned with.
No labels are involved.
"""

from __future__ import annotations

import numpy as np


def pseudo_labels(features: np.ndarray, clusters: int, seed: int, n_components: int = 10,
                  n_neighbors: int = 30, pca_components: int = 50, gmm_restarts: int = 12) -> np.ndarray:
    """Soft cluster responsibilities for each row of ``features``.

    Parameters
    ----------
    features : (N, F) float array
    clusters : K

    Returns
    -------
    (N, K) float64 responsibilities (rows sum to 1)
    """
    from sklearn.decomposition import PCA

    from bitcluster.training.representation.config import TeacherConfig
    from bitcluster.training.representation.pseudo_labels import fit_mixture, umap_embedding

    config = TeacherConfig(umap_neighbors=n_neighbors, umap_components=n_components, gmm_restarts=gmm_restarts)
    n = len(features)
    emb = features
    if features.shape[1] > pca_components and n > pca_components:
        # PCA first makes UMAP's neighbour search 2-3x faster at no loss seen on MNIST.
        emb = PCA(pca_components, random_state=seed).fit_transform(features)
    if n > n_neighbors + 2:
        emb = umap_embedding(emb, clusters, seed, config)
    return fit_mixture(emb, clusters, seed, config).responsibilities
