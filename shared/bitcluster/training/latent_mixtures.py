"""A mixture fitted on a latent space (K-means or a Gaussian mixture), and its file in a run directory.

Both clusterers end as one :class:`~bitcluster.core.mixture.GaussianMixtureParams`, the form the
consumer evaluates. A K-means model is the mixture with equal weights and one shared isotropic
variance (the mean squared distance to the centroids): its most probable component is the
nearest centroid, so it predicts exactly what K-means predicts and also gives posteriors.
numpy + scikit-learn only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bitcluster.core.mixture import GaussianMixtureParams
from bitcluster.training.quantiser import UniformQuantiser

MIXTURE_FILE = "latent_mixture.npz"
CLUSTERERS = ("kmeans", "gmm")


def fit_latent_mixture(z: np.ndarray, kind: str, clusters: int, seed: int, covariance: str = "full",
                       restarts: int | None = None, max_iter: int = 100) -> tuple[GaussianMixtureParams, dict]:
    """Fit K-means (``kind="kmeans"``) or a Gaussian mixture (``"gmm"``) to ``z``, without labels.

    Parameters
    ----------
    z : (N, d) float array
    covariance : ``"full"`` or ``"diag"``, for the GMM
    restarts : K-means ``n_init`` (default 10) or GMM ``n_init`` (default 1); the best objective wins

    Returns
    -------
    The mixture and a small dict of fit diagnostics for the run's history.
    """
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    z = np.asarray(z, dtype=np.float64)
    if kind == "kmeans":
        km = KMeans(clusters, n_init=restarts or 10, random_state=seed).fit(z)
        variance = max(float(km.inertia_) / z.size, 1e-12)
        means = km.cluster_centers_.astype(np.float64)
        params = GaussianMixtureParams(np.full(clusters, -np.log(clusters)), means,
                                       np.full_like(means, 1.0 / np.sqrt(variance)), kind="kmeans")
        return params, {"inertia": float(km.inertia_), "n_iter": int(km.n_iter_)}
    if kind == "gmm":
        gmm = GaussianMixture(clusters, covariance_type=covariance, n_init=restarts or 1, max_iter=max_iter,
                              random_state=seed).fit(z)
        params = GaussianMixtureParams(np.log(gmm.weights_), gmm.means_, gmm.precisions_cholesky_)
        return params, {"log_likelihood": float(gmm.lower_bound_), "n_iter": int(gmm.n_iter_),
                        "converged": bool(gmm.converged_)}
    raise ValueError(f"unknown latent clusterer {kind!r}; choose one of {CLUSTERERS}")


def save_latent_head(run_dir: Path, mixture: GaussianMixtureParams, quantiser: UniformQuantiser | None = None) -> None:
    """Write the mixture (and the quantiser's range) to ``run_dir/latent_mixture.npz``."""
    arrays = mixture.to_arrays()
    if quantiser is not None:
        arrays |= {"quantiser_low": quantiser.low, "quantiser_high": quantiser.high}
    np.savez(Path(run_dir) / MIXTURE_FILE, **arrays)


def load_latent_head(run_dir: Path) -> tuple[GaussianMixtureParams, UniformQuantiser | None]:
    path = Path(run_dir) / MIXTURE_FILE
    if not path.is_file():
        from bitcluster.training.runs import RunDirError

        raise RunDirError(f"{path} is missing: is {path.parent} a run directory of a latent-clustering method?")
    with np.load(path, allow_pickle=False) as f:
        mixture = GaussianMixtureParams.from_arrays(f)
        quantiser = UniformQuantiser(f["quantiser_low"], f["quantiser_high"]) if "quantiser_low" in f.files else None
    return mixture, quantiser
