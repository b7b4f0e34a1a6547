"""``kmeans`` and ``gmm``: K-means and a Gaussian mixture on the raw pixels (the vab paper's Table 1).

"Default settings" there; ours: scikit-learn's K-means (k-means++, 10 restarts) and its
``GaussianMixture`` with **diagonal** covariances (a full 1024 x 1024 covariance per component
is neither cheap nor well conditioned on MNIST), K-means initialisation, 100 EM iterations.
The state is the fitted :class:`~bitcluster.core.mixture.GaussianMixtureParams`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bitcluster.core.mixture import GaussianMixtureParams
from bitcluster.data import Dataset
from bitcluster.training.latent_mixtures import fit_latent_mixture, load_latent_head, save_latent_head
from bitcluster.training.methods.scoring import label_metrics
from bitcluster.training.runs import read_config


@dataclass
class KMeansConfig:
    clusterer: ClassVar[str] = "kmeans"
    clusters: int = 10
    seed: int = 0
    restarts: int = 10           # k-means++ starts; the lowest inertia wins


@dataclass
class GMMConfig:
    clusterer: ClassVar[str] = "gmm"
    clusters: int = 10
    seed: int = 0
    covariance: str = "diag"
    restarts: int = 1
    max_iter: int = 100


def architecture(cfg: KMeansConfig | GMMConfig, data: Dataset) -> dict:
    covariance = getattr(cfg, "covariance", "spherical-shared")
    return {"clusters": cfg.clusters, "n_pixels": data.n_pixels, "clusterer": cfg.clusterer, "covariance": covariance}


def train(data: Dataset, cfg: KMeansConfig | GMMConfig,
          progress: bool = True) -> tuple[GaussianMixtureParams, list[dict]]:
    """Fit the mixture on the training images (N, P); one history row."""
    t0 = time.perf_counter()
    extra = {"covariance": cfg.covariance, "max_iter": cfg.max_iter} if isinstance(cfg, GMMConfig) else {}
    mixture, info = fit_latent_mixture(data.x_train, cfg.clusterer, cfg.clusters, cfg.seed, restarts=cfg.restarts,
                                       **extra)
    return mixture, [{"epoch": 0, "phase": "fit", "seconds": time.perf_counter() - t0, **info}]


def save(mixture: GaussianMixtureParams, run_dir: Path) -> None:
    save_latent_head(run_dir, mixture)


def load(run_dir: Path) -> GaussianMixtureParams:
    read_config(run_dir)  # a clear error for a directory that is not a run
    return load_latent_head(run_dir)[0]


def evaluate(mixture: GaussianMixtureParams, data: Dataset) -> dict:
    clusters = mixture.predict(data.x_test)
    return {"n_test": int(len(data.x_test)), **label_metrics(data, clusters)}
