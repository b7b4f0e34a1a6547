"""What the teacher clusters: the training images as PCA or autoencoder features.

``features`` is ``pca`` (the default: PCA to ``pca_components`` dimensions, seconds on any set) or
``autoencoder`` (N2D's ``P-500-500-2000-10``, trained to a loss plateau; the paper-faithful
teacher, and the network the baselines' shared pre-training starts from). PCA is the default
because it costs seconds where the autoencoder costs minutes; how the two score on digits,
MNIST and made image sets is measured by ``bench/teacher_choice.py`` (``bench/results/``). The
images are the run's, as its preprocessing made them (centred or not:
:mod:`bitcluster.training.teacher.centring` decides).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from bitcluster.data import Dataset
from bitcluster.training.nets.autoencoders import DenseAutoencoder
from bitcluster.training.teacher.autoencoder import embed, train_autoencoder
from bitcluster.training.teacher.config import TeacherConfig


@dataclass
class TeacherFeatures:
    """The representation the teacher clusters.

    Attributes
    ----------
    embedding : (N, F) float32 features of ``x_train`` (F = PCA components or the autoencoder's latent)
    autoencoder : the trained autoencoder when ``features`` is ``autoencoder``, else None
    record : what the teacher's metadata keeps: ``kind``, ``centre`` (of the images it was given),
        ``autoencoder`` (its training record, or None), ``explained_variance`` (PCA), ``seconds``
    """

    embedding: np.ndarray
    autoencoder: DenseAutoencoder | None
    record: dict = field(default_factory=dict)


def teacher_features(data: Dataset, clusters: int, seed: int, config: TeacherConfig, *,
                     progress: bool = True, say=lambda _message: None) -> TeacherFeatures:
    """The features of ``data.x_train`` (N, P) that the teacher's UMAP + GMM will cluster."""
    t0 = time.perf_counter()
    x = data.x_train
    record = {"kind": config.features, "centre": data.preprocessing.centre, "autoencoder": None}
    if config.features == "pca":
        embedding, explained = pca_features(x, config.pca_components, seed)
        record["explained_variance"] = explained
        model = None
    else:
        model, record["autoencoder"] = train_autoencoder(x, config, seed, progress=progress)
        say(f"autoencoder: {record['autoencoder']['epochs']} epochs, {record['autoencoder']['seconds']:.0f} s, "
            f"stopped on {record['autoencoder']['stop_reason']}")
        embedding = embed(model, x)
    record["seconds"] = time.perf_counter() - t0
    return TeacherFeatures(embedding, model, record)


def pca_features(x: np.ndarray, components: int, seed: int) -> tuple[np.ndarray, float]:
    """``x`` (N, P) projected on its first ``components`` principal axes (at most min(N, P)).

    Returns (N, C) float32 and the fraction of the variance those axes keep.
    """
    from sklearn.decomposition import PCA

    components = max(1, min(components, x.shape[1], len(x)))
    pca = PCA(components, random_state=seed)
    projected = pca.fit_transform(x).astype(np.float32)
    return projected, float(pca.explained_variance_ratio_.sum())

