"""Bernoulli mixture model over binary codes, in numpy and in log space.

This is the consumer's model: ``p(z) = sum_c pi_c prod_d mu_cd^z_d (1 - mu_cd)^(1 - z_d)``.
Shaped like scikit-learn's mixtures (``fit``, ``predict``, ``predict_proba``,
``score_samples``) so it reads like a familiar estimator. The posterior is computed from
clipped log-probabilities, so means of exactly 0 or 1 never produce NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Means are kept inside [EPS, 1 - EPS]: a Bernoulli mean of exactly 0 or 1 would make a
# single flipped bit an impossible event (log 0) and the posterior undefined.
EPS = 1e-6


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))).squeeze(axis)


def bmm_log_joint(codes: np.ndarray, log_pi: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``log pi_c + log p(z | c)`` for each code and component.

    Parameters
    ----------
    codes : (N, D) array in {0, 1}
    log_pi : (K,) log mixing weights
    means : (K, D) Bernoulli means

    Returns
    -------
    (N, K) float64 array
    """
    mu = np.clip(np.asarray(means, dtype=np.float64), EPS, 1.0 - EPS)
    log_mu, log_1m = np.log(mu), np.log1p(-mu)
    z = np.asarray(codes, dtype=np.float64)
    # z·log mu + (1 - z)·log(1 - mu) = z·(log mu - log(1 - mu)) + sum log(1 - mu)
    return z @ (log_mu - log_1m).T + log_1m.sum(axis=1) + np.asarray(log_pi, dtype=np.float64)


def bmm_log_posterior(codes: np.ndarray, log_pi: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``log q(c | z)``, shape (N, K): the joint normalised over components."""
    joint = bmm_log_joint(codes, log_pi, means)
    return joint - _logsumexp(joint, axis=1)[:, None]


def classifier_weights(log_pi: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The BMM posterior as a linear layer: ``logits = z @ W + b``.

    Returns
    -------
    W : (D, K) float32, ``log mu - log(1 - mu)`` transposed
    b : (K,) float32, ``log pi + sum_d log(1 - mu)``
    """
    mu = np.clip(np.asarray(means, dtype=np.float64), EPS, 1.0 - EPS)
    log_mu, log_1m = np.log(mu), np.log1p(-mu)
    w = (log_mu - log_1m).T
    b = np.asarray(log_pi, dtype=np.float64) + log_1m.sum(axis=1)
    return w.astype(np.float32), b.astype(np.float32)


@dataclass
class BernoulliMixture:
    """Bernoulli mixture fitted by EM.

    Parameters
    ----------
    n_components : K
    max_iter : EM iterations at most
    tol : stop when the mean log-likelihood improves by less than this
    n_init : restarts; the best log-likelihood wins (no labels involved)
    seed : random seed of the initialisation
    """

    n_components: int
    max_iter: int = 100
    tol: float = 1e-5
    n_init: int = 1
    seed: int = 0
    alpha: float = 1e-3  # Laplace-style smoothing of the means, in pseudo-counts

    log_pi_: np.ndarray | None = None
    means_: np.ndarray | None = None
    converged_: bool = False
    n_iter_: int = 0
    lower_bound_: float = -np.inf

    def m_step(self, z: np.ndarray, resp: np.ndarray) -> "BernoulliMixture":
        """Weights and means from responsibilities ``resp`` (N, K) of codes ``z`` (N, D)."""
        z = np.asarray(z, dtype=np.float64)
        nk = resp.sum(axis=0) + 10 * np.finfo(float).eps
        self.log_pi_ = np.log(nk / nk.sum())
        self.means_ = (resp.T @ z + self.alpha) / (nk[:, None] + 2 * self.alpha)
        return self

    def fit(self, codes: np.ndarray, resp_init: np.ndarray | None = None) -> "BernoulliMixture":
        """Fit by EM. ``resp_init`` (N, K) starts from given responsibilities instead of random ones."""
        z = np.asarray(codes, dtype=np.float64)
        if z.ndim != 2 or len(z) < self.n_components:
            raise ValueError(f"need an (N, D) code matrix with N >= {self.n_components}, got {z.shape}")
        rng = np.random.default_rng(self.seed)
        best = None
        for _ in range(1 if resp_init is not None else self.n_init):
            if resp_init is not None:
                resp = np.asarray(resp_init, dtype=np.float64)
            else:
                resp = rng.dirichlet(np.ones(self.n_components), size=len(z))
            self.m_step(z, resp)
            prev = -np.inf
            self.converged_ = False
            for it in range(1, self.max_iter + 1):
                joint = bmm_log_joint(z, self.log_pi_, self.means_)
                norm = _logsumexp(joint, axis=1)
                resp = np.exp(joint - norm[:, None])
                self.m_step(z, resp)
                ll = float(norm.mean())
                self.n_iter_ = it
                if ll - prev < self.tol:
                    self.converged_ = True
                    break
                prev = ll
            self.lower_bound_ = ll
            if best is None or ll > best[0]:
                best = (ll, self.log_pi_.copy(), self.means_.copy(), self.converged_, self.n_iter_)
        _, self.log_pi_, self.means_, self.converged_, self.n_iter_ = best
        self.lower_bound_ = best[0]
        return self

    def score_samples(self, codes: np.ndarray) -> np.ndarray:
        """Log-likelihood ``log p(z)`` of each code, shape (N,)."""
        return _logsumexp(bmm_log_joint(codes, self.log_pi_, self.means_), axis=1)

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        """Posterior ``q(c | z)``, shape (N, K)."""
        return np.exp(bmm_log_posterior(codes, self.log_pi_, self.means_))

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """Most probable component of each code, shape (N,)."""
        return np.argmax(bmm_log_joint(codes, self.log_pi_, self.means_), axis=1)
