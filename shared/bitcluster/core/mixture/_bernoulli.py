"""The Bernoulli mixture over binary codes: the consumer's model.

``p(z) = sum_c pi_c prod_d mu_cd^z_d (1 - mu_cd)^(1 - z_d)``, everything in log space. Means are
clipped to ``[EPS, 1 - EPS]`` wherever a log is taken, so means of exactly 0 or 1 never give NaN.
"""

from __future__ import annotations

import numpy as np

from bitcluster.core.mixture._base import BaseMixture, normalise_log_joint

# Means are kept inside [EPS, 1 - EPS]: a Bernoulli mean of exactly 0 or 1 would make a single
# flipped bit an impossible event (log 0) and the posterior undefined. The torch prior and the
# exported classifier clip at the same EPS, so all three give the same posterior.
EPS = 1e-6


def _log_means(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log mu, log(1 - mu))`` of means (K, D) clipped to ``[EPS, 1 - EPS]``."""
    mu = np.clip(np.asarray(means, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log(mu), np.log1p(-mu)


def bmm_log_joint(codes: np.ndarray, log_pi: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``log pi_c + log p(z | c)`` for each code and component.

    Parameters
    ----------
    codes : (N, D) array in {0, 1} (values in [0, 1] are read as relaxed codes)
    log_pi : (K,) log mixing weights
    means : (K, D) Bernoulli means

    Returns
    -------
    (N, K) float64 array
    """
    log_mu, log_1m = _log_means(means)
    z = np.asarray(codes, dtype=np.float64)
    # z·log mu + (1 - z)·log(1 - mu) = z·(log mu - log(1 - mu)) + sum log(1 - mu)
    return z @ (log_mu - log_1m).T + log_1m.sum(axis=1) + np.asarray(log_pi, dtype=np.float64)


def bmm_log_posterior(codes: np.ndarray, log_pi: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``log q(c | z)``, shape (N, K): the joint normalised over components."""
    return normalise_log_joint(bmm_log_joint(codes, log_pi, means))[1]


def classifier_weights(log_pi: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The BMM posterior as a linear layer: ``logits = z @ W + b``.

    Returns
    -------
    W : (D, K) float32, ``log mu - log(1 - mu)`` transposed
    b : (K,) float32, ``log pi + sum_d log(1 - mu)``
    """
    log_mu, log_1m = _log_means(means)
    b = np.asarray(log_pi, dtype=np.float64) + log_1m.sum(axis=1)
    return (log_mu - log_1m).T.astype(np.float32), b.astype(np.float32)


def estimate_bernoulli_parameters(codes: np.ndarray, resp: np.ndarray,
                                  smoothing: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """The M-step: mixing weights and means from responsibilities.

    Used inside EM and to start a BMM from (pseudo-)labels: one-hot ``resp`` give each
    cluster's bit frequencies.

    Parameters
    ----------
    codes : (N, D) array in {0, 1}
    resp : (N, K) responsibilities, rows summing to 1
    smoothing : pseudo-counts added to the ones and to the zeros of every mean (a Beta prior),
        so a bit that never fires in a cluster gets a small mean rather than exactly 0

    Returns
    -------
    weights : (K,) summing to 1
    means : (K, D) in (0, 1)
    """
    z = np.asarray(codes, dtype=np.float64)
    resp = np.asarray(resp, dtype=np.float64)
    # An empty component keeps a tiny weight (not log 0) and means of 1/2 (from the smoothing).
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    return nk / nk.sum(), (resp.T @ z + smoothing) / (nk[:, None] + 2 * smoothing)


class BernoulliMixture(BaseMixture):
    """Bernoulli mixture fitted by EM, shaped like scikit-learn's ``GaussianMixture``.

    Parameters
    ----------
    n_components : K
    max_iter : EM steps per run, at least 1
    tol : a run has converged when the mean log-likelihood changes by less than this
    n_init : runs from different starts; the best mean log-likelihood wins (no labels involved)
    init_params : how a run starts: ``"k-means++"`` (k-means++ seeds on the Hamming distance,
        each code assigned to its nearest seed), ``"random_from_data"`` (K random codes as
        seeds) or ``"random"`` (Dirichlet-random responsibilities)
    weights_init : (K,) starting mixing weights (e.g. the current prior, to refit from it)
    means_init : (K, D) starting means; with ``weights_init`` the start is fully given
    random_state : None, an int seed or a numpy Generator; the same int gives the same fit
    smoothing : Beta pseudo-counts of the means, see :func:`estimate_bernoulli_parameters`

    Attributes
    ----------
    weights_ : (K,) mixing weights
    means_ : (K, D) Bernoulli means
    converged_ : whether the best run converged within ``max_iter``
    n_iter_ : EM steps of the best run
    lower_bound_ : mean log-likelihood of the best run (before its last M-step)
    n_features_in_ : D
    """

    def __init__(self, n_components: int = 1, *, tol: float = 1e-4, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "k-means++", weights_init: np.ndarray | None = None,
                 means_init: np.ndarray | None = None, random_state: None | int | np.random.Generator = None,
                 smoothing: float = 1e-3):
        super().__init__(n_components, tol=tol, max_iter=max_iter, n_init=n_init, init_params=init_params,
                         random_state=random_state)
        self.weights_init = weights_init
        self.means_init = means_init
        self.smoothing = smoothing

    def _check_data(self, X: np.ndarray) -> np.ndarray:
        z = np.asarray(X)
        if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
            raise ValueError(f"expected a non-empty (N, D) code matrix, got shape {z.shape}")
        if not np.all((z == 0) | (z == 1)):
            raise ValueError("a Bernoulli mixture needs binary codes (0/1); unpack bit-packed codes first")
        return z.astype(np.float64)

    def _check_parameters(self, X: np.ndarray) -> None:
        k, d = self.n_components, X.shape[1]
        if not self.smoothing >= 0:
            raise ValueError(f"smoothing must be >= 0, got {self.smoothing!r}")
        if self.weights_init is not None:
            w = np.asarray(self.weights_init, dtype=np.float64)
            if w.shape != (k,) or np.any(w < 0) or not np.isclose(w.sum(), 1.0, atol=1e-6):
                raise ValueError(f"weights_init must be ({k},) non-negative weights summing to 1")
        if self.means_init is not None:
            mu = np.asarray(self.means_init, dtype=np.float64)
            if mu.shape != (k, d) or np.any((mu < 0) | (mu > 1)):
                raise ValueError(f"means_init must be ({k}, {d}) means in [0, 1], got shape {mu.shape}")

    def _initialize(self, X: np.ndarray, resp: np.ndarray) -> None:
        weights, means = estimate_bernoulli_parameters(X, resp, self.smoothing)
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=np.float64) / np.sum(self.weights_init)
        if self.means_init is not None:
            means = np.array(self.means_init, dtype=np.float64)
        self.weights_, self.means_ = weights, means

    def _m_step(self, X: np.ndarray, resp: np.ndarray) -> None:
        self.weights_, self.means_ = estimate_bernoulli_parameters(X, resp, self.smoothing)

    def _estimate_weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):  # a weight of exactly 0 (given by the user) is log 0 = -inf
            return bmm_log_joint(X, np.log(self.weights_), self.means_)

    def _get_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        return self.weights_.copy(), self.means_.copy()

    def _set_parameters(self, params: tuple[np.ndarray, np.ndarray]) -> None:
        self.weights_, self.means_ = params

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        return k * d + k - 1
