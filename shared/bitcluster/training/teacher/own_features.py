"""The pseudo-labels of ``vab``'s previous recipe (``teacher="own"``): UMAP + GMM on this run's features.

The same two steps as the teacher (:func:`~bitcluster.training.teacher.pseudo_labels.pseudo_labels`,
after N2D, McConville et al., 2020); what differs is the input (the run's own binary encoder's
features, PCA-reduced first) and the settings the recipe was tuned with (:data:`OWN_FEATURES_CONFIG`).
No labels are involved.
"""

from __future__ import annotations

import numpy as np

from bitcluster.training.teacher.config import TeacherConfig
from bitcluster.training.teacher.pseudo_labels import pseudo_labels

# 30 neighbours into 10 dimensions (whatever K), 12 GMM restarts: the recipe's own settings.
OWN_FEATURES_CONFIG = TeacherConfig(umap_neighbors=30, umap_components=10, gmm_restarts=12)
# Features wider than this are PCA-reduced to it first: UMAP's neighbour search then works on
# fewer dimensions, and the leading components keep what separates the clusters.
PCA_COMPONENTS = 50


def own_feature_pseudo_labels(features: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    """Soft cluster responsibilities for each row of ``features``.

    Parameters
    ----------
    features : (N, F) float array, the run's encoder's last hidden layer
    clusters : K

    Returns
    -------
    (N, K) float64 responsibilities (rows sum to 1)
    """
    from sklearn.decomposition import PCA

    reduced = features
    if features.shape[1] > PCA_COMPONENTS and len(features) > PCA_COMPONENTS:
        reduced = PCA(PCA_COMPONENTS, random_state=seed).fit_transform(features)
    return pseudo_labels(reduced, clusters, seed, OWN_FEATURES_CONFIG).responsibilities
