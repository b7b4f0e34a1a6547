"""What the teacher clusters: the training images as PCA or autoencoder features, centred or not.

Two choices, both about the representation UMAP + GMM see:

- ``features``: ``pca`` (the default: PCA to ``pca_components`` dimensions, seconds on any set) or
  ``autoencoder`` (N2D's ``P-500-500-2000-10``, trained to a loss plateau; the paper-faithful
  teacher, and the network the baselines' shared pre-training starts from). PCA is the default
  because it costs seconds where the autoencoder costs minutes; how the two score on digits,
  MNIST and made image sets is measured by ``bench/teacher_choice.py`` (``bench/results/``).
- ``centring``: ``mass`` shifts every image to its centre of mass first (:mod:`.centring`), ``none``
  keeps it as it is, ``auto`` decides per data set without labels: on up to ``choice_images``
  training images, PCA + UMAP + GMM run ``choice_runs`` times with different UMAP seeds for each
  candidate, and the candidate whose clusterings agree most (mean pairwise adjusted Rand index) is
  taken. A representation that exposes real clusters gives the same clusters whatever UMAP's
  seed; one that groups images by position does not. Ties keep the images as they are.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from bitcluster.data import Dataset
from bitcluster.training.nets.autoencoders import DenseAutoencoder
from bitcluster.training.teacher.autoencoder import embed, train_autoencoder
from bitcluster.training.teacher.centring import centre_by_mass
from bitcluster.training.teacher.config import TeacherConfig
from bitcluster.training.teacher.pseudo_labels import pseudo_labels

CENTRING_CANDIDATES = ("none", "mass")  # in order of preference on a tie


@dataclass
class TeacherFeatures:
    """The representation the teacher clusters.

    Attributes
    ----------
    embedding : (N, F) float32 features of ``x_train`` (F = PCA components or the autoencoder's latent)
    autoencoder : the trained autoencoder when ``features`` is ``autoencoder``, else None
    record : what the teacher's metadata keeps: ``kind``, ``centring`` (the one applied),
        ``centring_choice`` (each candidate's agreement, when ``auto`` chose), ``autoencoder``
        (its training record, or None), ``explained_variance`` (PCA), ``seconds``
    """

    embedding: np.ndarray
    autoencoder: DenseAutoencoder | None
    record: dict = field(default_factory=dict)


def teacher_features(data: Dataset, clusters: int, seed: int, config: TeacherConfig, *,
                     progress: bool = True, say=lambda _message: None) -> TeacherFeatures:
    """The features of ``data.x_train`` (N, P) that the teacher's UMAP + GMM will cluster."""
    t0 = time.perf_counter()
    choice = None
    centring = config.centring
    if centring == "auto":
        centring, choice = choose_centring(data, clusters, seed, config)
        say(f"teacher: centring {centring} (UMAP agreement over {config.choice_runs} seeds on "
            f"{choice['images']} images: " + ", ".join(f"{k} {v:.3f}" for k, v in choice["agreement"].items()) + ")")
    x = centre_by_mass(data.x_train, data.preprocessing) if centring == "mass" else data.x_train
    record = {"kind": config.features, "centring": centring, "centring_choice": choice, "autoencoder": None}
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


def choose_centring(data: Dataset, clusters: int, seed: int, config: TeacherConfig) -> tuple[str, dict]:
    """``none`` or ``mass``: the one whose UMAP + GMM clusterings agree most across UMAP seeds.

    Measured on a random subset of at most ``config.choice_images`` training images, with PCA
    features whatever ``config.features`` is (the choice is about the images, and PCA is cheap).
    Labels are never read.

    Returns
    -------
    the choice, and its record: ``images`` (how many were used), ``runs``, ``agreement`` (candidate
    -> mean pairwise adjusted Rand index), ``seconds``
    """
    from sklearn.metrics import adjusted_rand_score

    t0 = time.perf_counter()
    x = data.x_train
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(len(x), size=min(len(x), config.choice_images), replace=False))
    agreement = {}
    for candidate in CENTRING_CANDIDATES:
        images = x[subset]
        if candidate == "mass":
            images = centre_by_mass(images, data.preprocessing)
        features, _ = pca_features(images, config.pca_components, seed)
        labels = [pseudo_labels(features, clusters, seed + run, config).responsibilities.argmax(axis=1)
                  for run in range(config.choice_runs)]
        pairs = list(itertools.combinations(labels, 2))
        agreement[candidate] = float(np.mean([adjusted_rand_score(a, b) for a, b in pairs])) if pairs else 1.0
    best = max(CENTRING_CANDIDATES, key=lambda c: (agreement[c], -CENTRING_CANDIDATES.index(c)))
    return best, {"images": int(len(subset)), "runs": config.choice_runs, "agreement": agreement,
                  "seconds": time.perf_counter() - t0}
