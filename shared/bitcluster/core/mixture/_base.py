"""What every mixture here shares: log-sum-exp, scoring from a log joint, and the EM loop, once.

Laid out like scikit-learn's ``sklearn/mixture/_base.py``: :class:`BaseMixture` runs EM and
the restarts, and a model fills in ``_check_data``, ``_initialize``, ``_m_step``,
``_estimate_weighted_log_prob``, ``_get_parameters``/``_set_parameters`` and ``_n_parameters``.
``get_params``/``set_params`` are written by hand (the consumer installs no scikit-learn) in
the form ``sklearn.base.clone`` relies on: the constructor stores its arguments unchanged.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

INIT_PARAMS = ("k-means++", "random_from_data", "random")


class NotFittedError(ValueError, AttributeError):
    """A model was asked to predict before ``fit`` (both a ValueError and an AttributeError, as in scikit-learn)."""


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """``log sum exp a`` along ``axis``, shifted by the maximum so nothing overflows; the axis is dropped."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    # An all -inf slice would give -inf - -inf = nan: shift it by 0 instead.
    m = np.where(np.isfinite(m), m, 0.0)
    return (m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))).squeeze(axis)


def normalise_log_joint(log_joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ``log p(x, k)`` into ``log p(x)`` and ``log p(k | x)``.

    Parameters
    ----------
    log_joint : (N, K)

    Returns
    -------
    log_norm : (N,) log-likelihood of each sample
    log_resp : (N, K) log posterior (responsibilities)
    """
    log_norm = logsumexp(log_joint, axis=1)
    return log_norm, log_joint - log_norm[:, None]


class MixtureScoring:
    """``predict``, ``predict_proba``, ``score_samples``, ``score`` from a model's ``_weighted_log_prob``."""

    def _weighted_log_prob(self, X: np.ndarray) -> np.ndarray:  # (N, K): log pi_k + log p(x | k)
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable component of each sample: (N,) int64."""
        return np.argmax(self._weighted_log_prob(X), axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Posterior ``p(k | x)``: (N, K), rows summing to 1."""
        return np.exp(normalise_log_joint(self._weighted_log_prob(X))[1])

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Log-likelihood ``log p(x)`` of each sample: (N,)."""
        return logsumexp(self._weighted_log_prob(X), axis=1)

    def score(self, X: np.ndarray, y: Any = None) -> float:
        """Mean log-likelihood of the samples ``X`` (N, D); ``y`` is ignored."""
        return float(np.mean(self.score_samples(X)))


def as_generator(random_state: None | int | np.random.Generator) -> np.random.Generator:
    """A numpy Generator from ``None`` (fresh entropy), an int seed, or a Generator (used as is)."""
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise ValueError(f"random_state must be None, an int or a numpy Generator, got {random_state!r}")


def squared_distances(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of each sample (N, D) to each centre (K, D): (N, K); on binary codes, Hamming."""
    return np.maximum(np.sum(X**2, axis=1)[:, None] - 2.0 * X @ centres.T + np.sum(centres**2, axis=1), 0.0)


def hard_responsibilities(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """One-hot assignment of each sample (N, D) to its nearest centre (K, D): (N, K)."""
    resp = np.zeros((len(X), len(centres)))
    resp[np.arange(len(X)), np.argmin(squared_distances(X, centres), axis=1)] = 1.0
    return resp


def kmeans_plusplus_centres(X: np.ndarray, k: int, rng: np.random.Generator,
                            sample_weight: np.ndarray | None = None) -> np.ndarray:
    """``k`` rows of ``X`` drawn by greedy k-means++ (Arthur & Vassilvitskii 2007, as scikit-learn draws them): (k, D).

    Each next centre is drawn with probability proportional to the squared distance to the
    nearest centre so far, which spreads the starts over the clusters; of ``2 + log k`` such
    draws the one that most lowers the summed distance is kept: without the greedy choice two
    starts often land in one cluster of binary codes, whose distances to each other are few and
    small, and EM cannot pull them apart again. A row of weight ``w``
    counts as ``w`` rows (``sample_weight``, (N,), e.g. how often each distinct code occurs).
    """
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    trials = 2 + int(np.log(k))
    first = rng.integers(len(X)) if sample_weight is None else rng.choice(len(X), p=w / w.sum())
    centres = [X[first]]
    closest = squared_distances(X, centres[0][None])[:, 0]
    for _ in range(1, k):
        total = closest @ w
        # Fewer distinct samples than components: any sample is as good a start as another.
        p = closest * w / total if total > 0 else w / w.sum()
        candidates = rng.choice(len(X), size=trials, p=p)
        closest_if = np.minimum(closest, squared_distances(X, X[candidates]).T)  # (trials, N)
        best = int(np.argmin(closest_if @ w))
        centres.append(X[candidates[best]])
        closest = closest_if[best]
    return np.stack(centres)


def initial_responsibilities(X: np.ndarray, k: int, init_params: str, rng: np.random.Generator,
                             sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Starting responsibilities (N, K) of one EM run, see :data:`INIT_PARAMS`; seeds are drawn by ``sample_weight``."""
    if init_params == "k-means++":
        return hard_responsibilities(X, kmeans_plusplus_centres(X, k, rng, sample_weight))
    if init_params == "random_from_data":
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        return hard_responsibilities(X, X[rng.choice(len(X), size=k, replace=False, p=p)])
    if init_params == "random":
        return rng.dirichlet(np.ones(k), size=len(X))
    raise ValueError(f"init_params must be one of {INIT_PARAMS}, got {init_params!r}")


def _check_sample_weight(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    """``sample_weight`` as float64 (n,), all ones for None; a ValueError for negative, non-finite or all-zero weights."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), one weight per sample, got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError("sample_weight must be finite, non-negative and not all zero")
    return w


class BaseMixture(MixtureScoring, ABC):
    """A mixture fitted by EM, with restarts; the best mean log-likelihood wins (no labels involved)."""

    def __init__(self, n_components: int, *, tol: float, max_iter: int, n_init: int, init_params: str,
                 random_state: None | int | np.random.Generator):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state

    # -- the parameter protocol of scikit-learn estimators ------------------------------------

    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values() if p.name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, by name (``deep`` is accepted for scikit-learn; nothing nests)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> "BaseMixture":
        """Set constructor arguments by name; returns self."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid ones: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({args})"

    # -- hooks a model fills in ---------------------------------------------------------------

    @abstractmethod
    def _check_data(self, X: np.ndarray) -> np.ndarray:
        """``X`` as a validated float64 (N, D) array, or a ValueError that says what is wrong."""

    def _check_parameters(self, X: np.ndarray) -> None:
        """Model-specific checks of the constructor arguments against the data (N, D)."""

    @abstractmethod
    def _initialize(self, X: np.ndarray, resp: np.ndarray) -> None:
        """Set the starting parameters from responsibilities (N, K) (and any ``*_init`` given)."""

    @abstractmethod
    def _m_step(self, X: np.ndarray, resp: np.ndarray) -> None:
        """Set the parameters that maximise the expected log-likelihood under ``resp`` (N, K)."""

    @abstractmethod
    def _estimate_weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        """``log pi_k + log p(x | k)``: (N, K)."""

    @abstractmethod
    def _get_parameters(self) -> tuple:
        ...

    @abstractmethod
    def _set_parameters(self, params: tuple) -> None:
        ...

    @abstractmethod
    def _n_parameters(self) -> int:
        """Free parameters of the fitted model, for :meth:`bic` and :meth:`aic`."""

    # -- EM -------------------------------------------------------------------------------

    def _check_initial_parameters(self, X: np.ndarray) -> None:
        for name, low in (("n_components", 1), ("max_iter", 1), ("n_init", 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        if self.init_params not in INIT_PARAMS:
            raise ValueError(f"init_params must be one of {INIT_PARAMS}, got {self.init_params!r}")
        if len(X) < self.n_components:
            raise ValueError(f"{self.n_components} components need at least as many samples, got {len(X)}")

    def fit(self, X: np.ndarray, y: Any = None, sample_weight: np.ndarray | None = None) -> "BaseMixture":
        """Fit by EM, ``n_init`` times from starts drawn by ``init_params``; keep the best run.

        A run stops when the mean log-likelihood changes by less than ``tol`` (``converged_``) or
        after ``max_iter`` EM steps. ``y`` is ignored.

        Parameters
        ----------
        X : (N, D) array
        sample_weight : (N,) non-negative weights, None for all 1: a row of weight ``w`` counts as
            ``w`` copies of it, so the distinct rows of a data set weighted by their counts give the
            fit of the whole set from the same start, in fewer operations

        Returns
        -------
        self
        """
        X = self._check_data(X)
        self._check_initial_parameters(X)
        self._check_parameters(X)
        w = _check_sample_weight(sample_weight, len(X))
        self.n_features_in_ = X.shape[1]
        rng = as_generator(self.random_state)
        best = None
        for _ in range(self.n_init):
            start = initial_responsibilities(X, self.n_components, self.init_params, rng,
                                             None if sample_weight is None else w)
            self._initialize(X, start * w[:, None])
            lower_bound, converged, n_iter = -np.inf, False, 0
            for n_iter in range(1, self.max_iter + 1):
                previous = lower_bound
                log_norm, log_resp = normalise_log_joint(self._estimate_weighted_log_prob(X))
                self._m_step(X, np.exp(log_resp) * w[:, None])
                lower_bound = float(np.average(log_norm, weights=w))
                if abs(lower_bound - previous) < self.tol:
                    converged = True
                    break
            if best is None or lower_bound > best[0]:
                best = (lower_bound, self._get_parameters(), converged, n_iter)
        self.lower_bound_, params, self.converged_, self.n_iter_ = best
        self._set_parameters(params)
        return self

    def fit_predict(self, X: np.ndarray, y: Any = None) -> np.ndarray:
        """:meth:`fit`, then the most probable component of each sample: (N,)."""
        return self.fit(X).predict(X)

    def _weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit first")
        X = self._check_data(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {self.n_features_in_}")
        return self._estimate_weighted_log_prob(X)

    def bic(self, X: np.ndarray) -> float:
        """Bayesian information criterion on ``X`` (N, D): lower is better."""
        return -2.0 * self.score(X) * len(X) + self._n_parameters() * np.log(len(X))

    def aic(self, X: np.ndarray) -> float:
        """Akaike information criterion on ``X`` (N, D): lower is better."""
        return -2.0 * self.score(X) * len(X) + 2.0 * self._n_parameters()
