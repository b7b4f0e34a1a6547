"""A fitted Gaussian mixture as plain arrays, and its log joint: what the latent-clustering
methods' consumer evaluates.

Fitting stays on the training side (:func:`bitcluster.training.quantiser.fit_latent_mixture`, with
scikit-learn); only the evaluation lives here, numpy only, with the shared scoring of
:class:`~bitcluster.core.mixture._base.MixtureScoring` (``predict``, ``predict_proba``,
``score_samples``, ``score``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitcluster.core.mixture._base import MixtureScoring

LOG_2PI = float(np.log(2 * np.pi))


def gaussian_log_joint(z: np.ndarray, log_pi: np.ndarray, means: np.ndarray,
                       precision_cholesky: np.ndarray) -> np.ndarray:
    """``log pi_k + log N(z; mu_k, Sigma_k)`` for each row of ``z`` and each component.

    Parameters
    ----------
    z : (N, d)
    log_pi : (K,)
    means : (K, d)
    precision_cholesky : (K, d) for diagonal covariances (``1 / sigma``), or (K, d, d) with
        ``Sigma_k^-1 = P_k P_k^T`` (scikit-learn's ``precisions_cholesky_``)

    Returns
    -------
    (N, K) float64
    """
    z = np.asarray(z, dtype=np.float64)
    mu = np.asarray(means, dtype=np.float64)
    p = np.asarray(precision_cholesky, dtype=np.float64)
    if p.ndim == 2:
        # sum_j p^2 (z - mu)^2 expanded, so no (N, K, d) array is formed (d is 1024 on raw pixels)
        p2 = p**2
        mahalanobis = (z**2) @ p2.T - 2.0 * z @ (mu * p2).T + np.sum(mu**2 * p2, axis=1)
        log_det = np.sum(np.log(p), axis=1)
    else:
        mahalanobis = np.stack([np.sum((z @ p[k] - mu[k] @ p[k]) ** 2, axis=1) for k in range(len(mu))], axis=1)
        log_det = np.sum(np.log(np.diagonal(p, axis1=1, axis2=2)), axis=1)
    return np.asarray(log_pi, dtype=np.float64) - 0.5 * (mu.shape[1] * LOG_2PI + mahalanobis) + log_det


@dataclass
class GaussianMixtureParams(MixtureScoring):
    """A fitted Gaussian mixture, stored as arrays (no estimator object, no pickle).

    Attributes
    ----------
    log_pi : (K,) log mixing weights
    means : (K, d)
    precision_cholesky : (K, d) diagonal or (K, d, d) full, see :func:`gaussian_log_joint`
    kind : ``"gmm"``, or ``"kmeans"`` for K-means as a mixture (its decision is the nearest centroid)
    """

    log_pi: np.ndarray
    means: np.ndarray
    precision_cholesky: np.ndarray
    kind: str = "gmm"

    @property
    def n_components(self) -> int:
        return int(self.means.shape[0])

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def log_joint(self, z: np.ndarray) -> np.ndarray:
        """``log pi_k + log N(z | k)``: (N, K)."""
        return gaussian_log_joint(z, self.log_pi, self.means, self.precision_cholesky)

    def _weighted_log_prob(self, z: np.ndarray) -> np.ndarray:
        return self.log_joint(z)

    def full_precision_cholesky(self) -> np.ndarray:
        """``P`` as (K, d, d), diagonal covariances made explicit."""
        p = np.asarray(self.precision_cholesky, dtype=np.float64)
        return p if p.ndim == 3 else np.stack([np.diag(row) for row in p])

    def with_noise(self, variance: np.ndarray) -> "GaussianMixtureParams":
        """The mixture of ``z + u`` for independent noise ``u`` of per-dimension ``variance`` (d,).

        Every covariance grows by ``diag(variance)``. A K-means model comes back unchanged: its
        decision is the nearest centroid, noise or not.
        """
        if self.kind == "kmeans":
            return self
        v = np.asarray(variance, dtype=np.float64)
        p = np.asarray(self.precision_cholesky, dtype=np.float64)
        if p.ndim == 2:
            return GaussianMixtureParams(self.log_pi, self.means, 1.0 / np.sqrt(1.0 / p**2 + v), self.kind)
        eye = np.eye(self.dim)
        widened = []
        for pk in p:
            cov = np.linalg.inv(pk @ pk.T) + np.diag(v)
            # P = L^-T for cov = L L^T: upper triangular, P P^T = cov^-1 (scikit-learn's convention)
            widened.append(np.linalg.solve(np.linalg.cholesky(cov), eye).T)
        return GaussianMixtureParams(self.log_pi, self.means, np.stack(widened), self.kind)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"log_pi": self.log_pi, "means": self.means, "precision_cholesky": self.precision_cholesky,
                "kind": np.array(self.kind)}

    @classmethod
    def from_arrays(cls, arrays) -> "GaussianMixtureParams":
        return cls(np.asarray(arrays["log_pi"]), np.asarray(arrays["means"]), np.asarray(arrays["precision_cholesky"]),
                   str(arrays["kind"]))
