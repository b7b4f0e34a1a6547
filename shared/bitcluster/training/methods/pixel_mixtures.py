"""``kmeans`` and ``gmm``: K-means and a Gaussian mixture on the raw pixels (the vab paper's Table 1).

"Default settings" there; ours: scikit-learn's K-means (k-means++, 10 restarts) and its
``GaussianMixture`` with **diagonal** covariances (a full 1024 x 1024 covariance per component
is neither cheap nor well conditioned on MNIST), K-means initialisation, 100 EM iterations.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bitcluster.data import Dataset
from bitcluster.training.runs import read_config
from bitcluster.training.methods.common import config_from_options, label_metrics
from bitcluster.training.latent import GaussianMixtureParams, fit_latent_mixture, load_latent_head, save_latent_head

KIND_OF_METHOD = {"kmeans": "kmeans", "gmm": "gmm"}


@dataclass
class PixelMixtureConfig:
    clusters: int = 10
    seed: int = 0
    covariance: str = "diag"     # GMM only
    restarts: int | None = None  # default: 10 for K-means, 1 for the GMM
    max_iter: int = 100

    def to_dict(self) -> dict:
        return asdict(self)


def train(method: str, data: Dataset, options: dict, progress: bool = True):
    cfg = config_from_options(PixelMixtureConfig, options)
    t0 = time.perf_counter()
    mixture, info = fit_latent_mixture(data.x_train, KIND_OF_METHOD[method], cfg.clusters, cfg.seed,
                                       covariance=cfg.covariance, restarts=cfg.restarts, max_iter=cfg.max_iter)
    history = [{"epoch": 0, "phase": "fit", "seconds": time.perf_counter() - t0, **info}]
    model = {"clusters": cfg.clusters, "n_pixels": data.n_pixels, "clusterer": KIND_OF_METHOD[method],
             "covariance": "spherical-shared" if method == "kmeans" else cfg.covariance}
    return mixture, history, {"train": cfg.to_dict(), "model": model}


def save(mixture: GaussianMixtureParams, run_dir: Path) -> None:
    save_latent_head(run_dir, mixture)


def load(run_dir: Path) -> GaussianMixtureParams:
    read_config(run_dir)  # a clear error for a directory that is not a run
    return load_latent_head(run_dir)[0]


def evaluate(mixture: GaussianMixtureParams, data: Dataset) -> dict:
    clusters = mixture.predict(data.x_test)
    return {"n_test": int(len(data.x_test)), **label_metrics(data, clusters)}
