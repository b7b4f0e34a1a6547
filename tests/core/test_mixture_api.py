"""The mixtures behave like scikit-learn estimators: parameters, clone, restarts, warm starts, criteria."""

import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from bitcluster.core.metrics import cluster_accuracy
from bitcluster.core.mixture import (BernoulliMixture, GaussianMixtureParams, NotFittedError, bmm_log_posterior,
                                     estimate_bernoulli_parameters)

ROOT = Path(__file__).resolve().parents[2]


def planted_codes(n=600, bits=40, k=3, flip=0.05, seed=3):
    """Codes scattered around ``k`` random binary prototypes by independent bit flips, with their labels."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 2, (k, bits))
    labels = rng.integers(0, k, n)
    z = np.where(rng.random((n, bits)) < flip, 1 - protos[labels], protos[labels]).astype(np.uint8)
    return z, labels


def test_top_level_import_is_the_core_estimator():
    from bitcluster import BernoulliMixture as top

    assert top is BernoulliMixture


def test_default_kmeans_plus_plus_start_recovers_planted_clusters_in_one_run():
    z, labels = planted_codes(k=5)
    bmm = BernoulliMixture(5, random_state=0).fit(z)
    assert bmm.fit(z) is bmm
    assert cluster_accuracy(labels, bmm.predict(z)) > 0.99
    assert bmm.converged_ and 1 <= bmm.n_iter_ <= bmm.max_iter
    assert bmm.weights_.shape == (5,) and bmm.means_.shape == (5, 40)
    np.testing.assert_allclose(bmm.weights_.sum(), 1.0)


def test_get_params_round_trips_and_clone_gives_an_unfitted_copy():
    means = np.full((2, 4), 0.5)
    bmm = BernoulliMixture(2, tol=1e-3, n_init=2, init_params="random", means_init=means, random_state=4)
    params = bmm.get_params()
    assert params["n_components"] == 2 and params["tol"] == 1e-3 and params["means_init"] is means
    assert BernoulliMixture(**params).get_params() == params
    assert bmm.set_params(max_iter=7) is bmm and bmm.max_iter == 7
    bmm.fit(planted_codes(n=50, bits=4, k=2)[0])
    copy = clone(bmm)
    assert not hasattr(copy, "means_")
    assert copy.max_iter == 7 and copy.random_state == 4
    np.testing.assert_array_equal(copy.means_init, means)
    with pytest.raises(ValueError, match="invalid parameter"):
        bmm.set_params(seed=0)


@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data", "random"])
def test_same_random_state_gives_the_same_fit(init_params):
    z, _ = planted_codes(n=300, k=4, flip=0.2)
    a = BernoulliMixture(4, n_init=2, max_iter=20, init_params=init_params, random_state=11).fit(z)
    b = BernoulliMixture(4, n_init=2, max_iter=20, init_params=init_params, random_state=11).fit(z)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert a.lower_bound_ == b.lower_bound_ and a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("kwargs, codes, message", [
    ({"n_components": 2, "max_iter": 0}, np.zeros((5, 3)), "max_iter"),
    ({"n_components": 0}, np.zeros((5, 3)), "n_components"),
    ({"n_components": 6}, np.zeros((5, 3)), "at least as many samples"),
    ({"n_components": 2}, np.full((5, 3), 0.5), "binary"),
    ({"n_components": 2}, np.full((5, 3), 2), "binary"),
    ({"n_components": 2}, np.zeros(5), r"\(N, D\)"),
    ({"n_components": 2, "init_params": "kmeans"}, np.zeros((5, 3)), "init_params"),
    ({"n_components": 2, "weights_init": np.array([0.2, 0.2])}, np.zeros((5, 3)), "weights_init"),
    ({"n_components": 2, "means_init": np.zeros((2, 4))}, np.zeros((5, 3)), "means_init"),
    ({"n_components": 2, "random_state": "seven"}, np.zeros((5, 3)), "random_state"),
])
def test_fit_rejects_bad_arguments_with_a_value_error(kwargs, codes, message):
    with pytest.raises(ValueError, match=message):
        BernoulliMixture(**kwargs).fit(codes)


def test_predicting_before_fit_or_with_other_widths_is_refused():
    with pytest.raises(NotFittedError):
        BernoulliMixture(2).predict(np.zeros((3, 4)))
    bmm = BernoulliMixture(2, random_state=0).fit(planted_codes(n=40, bits=6, k=2)[0])
    with pytest.raises(ValueError, match="features"):
        bmm.predict(np.zeros((3, 5)))


def test_n_init_keeps_the_run_with_the_best_likelihood():
    z, _ = planted_codes(n=400, k=6, flip=0.25, seed=5)
    settings = dict(max_iter=4, init_params="random")
    # One generator shared by single runs draws exactly the starts that n_init=5 draws in turn.
    shared = np.random.default_rng(9)
    singles = [BernoulliMixture(6, random_state=shared, **settings).fit(z) for _ in range(5)]
    best = BernoulliMixture(6, n_init=5, random_state=np.random.default_rng(9), **settings).fit(z)
    bounds = [s.lower_bound_ for s in singles]
    assert len(set(bounds)) > 1, "the starts should differ for this test to mean anything"
    assert best.lower_bound_ == max(bounds)
    np.testing.assert_array_equal(best.means_, singles[int(np.argmax(bounds))].means_)


def test_score_bic_and_aic_follow_from_score_samples():
    z, _ = planted_codes(n=300, bits=12, k=3)
    bmm = BernoulliMixture(3, random_state=0).fit(z)
    log_lik = bmm.score_samples(z)
    n_params = 3 * 12 + 2
    assert bmm.score(z) == pytest.approx(log_lik.mean())
    assert bmm.bic(z) == pytest.approx(-2 * log_lik.sum() + n_params * np.log(len(z)))
    assert bmm.aic(z) == pytest.approx(-2 * log_lik.sum() + 2 * n_params)
    np.testing.assert_allclose(np.exp(bmm.score_samples(z[:5]))[:, None] * bmm.predict_proba(z[:5]),
                               np.exp(np.log(bmm.weights_) + np.log(np.where(z[:5, None], bmm.means_, 1 - bmm.means_))
                                      .sum(axis=2)), rtol=1e-9)


def test_bic_picks_the_planted_number_of_clusters():
    z, _ = planted_codes(n=800, bits=30, k=4, flip=0.1, seed=8)
    bics = [BernoulliMixture(k, n_init=3, random_state=0).fit(z).bic(z) for k in range(1, 8)]
    assert int(np.argmin(bics)) + 1 == 4


def test_warm_start_runs_em_from_the_given_parameters():
    z, _ = planted_codes(n=300, bits=16, k=3, flip=0.15)
    rng = np.random.default_rng(0)
    weights, means = rng.dirichlet(np.ones(3)), rng.uniform(0.2, 0.8, (3, 16))
    one_step = BernoulliMixture(3, max_iter=1, weights_init=weights, means_init=means, random_state=1).fit(z)
    expected = estimate_bernoulli_parameters(z, np.exp(bmm_log_posterior(z, np.log(weights), means)))
    np.testing.assert_allclose(one_step.weights_, expected[0])
    np.testing.assert_allclose(one_step.means_, expected[1])
    # A fully given start does not depend on the random state.
    other = BernoulliMixture(3, max_iter=1, weights_init=weights, means_init=means, random_state=2).fit(z)
    np.testing.assert_array_equal(other.means_, one_step.means_)


def test_warm_start_from_a_fit_stays_at_that_fit():
    z, _ = planted_codes(n=300, bits=16, k=3, flip=0.1)
    fitted = BernoulliMixture(3, tol=1e-10, max_iter=500, random_state=0).fit(z)
    again = BernoulliMixture(3, weights_init=fitted.weights_, means_init=fitted.means_).fit(z)
    assert again.n_iter_ <= 2
    np.testing.assert_allclose(again.means_, fitted.means_, atol=1e-6)


def test_parameters_from_one_hot_labels_are_the_cluster_frequencies():
    z, labels = planted_codes(n=200, bits=10, k=3)
    weights, means = estimate_bernoulli_parameters(z, np.eye(3)[labels], smoothing=0.0)
    np.testing.assert_allclose(weights, np.bincount(labels) / len(labels))
    np.testing.assert_allclose(means, [z[labels == c].mean(axis=0) for c in range(3)])


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_gaussian_params_predict_like_the_density_written_out(covariance):
    rng = np.random.default_rng(4)
    k, d = 3, 4
    log_pi, means = np.log(rng.dirichlet(np.ones(k))), rng.normal(0, 2, (k, d))
    if covariance == "diag":
        sigma = rng.uniform(0.5, 2.0, (k, d))
        covs, prec_chol = np.stack([np.diag(s**2) for s in sigma]), 1.0 / sigma
    else:
        a = rng.normal(size=(k, d, d))
        covs = a @ a.transpose(0, 2, 1) + np.eye(d)
        # scikit-learn's convention: P = L^-T for cov = L L^T, so P P^T = cov^-1
        prec_chol = np.stack([np.linalg.inv(np.linalg.cholesky(c)).T for c in covs])
    mixture = GaussianMixtureParams(log_pi, means, prec_chol)
    z = rng.normal(0, 2, (50, d))
    density = np.stack([
        np.exp(log_pi[c]) * np.exp(-0.5 * np.einsum("ni,ij,nj->n", z - means[c], np.linalg.inv(covs[c]), z - means[c]))
        / np.sqrt((2 * np.pi) ** d * np.linalg.det(covs[c])) for c in range(k)], axis=1)
    np.testing.assert_allclose(mixture.predict_proba(z), density / density.sum(axis=1, keepdims=True), atol=1e-10)
    np.testing.assert_array_equal(mixture.predict(z), density.argmax(axis=1))
    np.testing.assert_allclose(mixture.score_samples(z), np.log(density.sum(axis=1)), rtol=1e-10)


def test_logsumexp_is_defined_once_in_the_project():
    pattern = re.compile(r"def \w*logsumexp\w*\(")
    sources = [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]
    defining = [p.relative_to(ROOT).as_posix() for p in sources if pattern.search(p.read_text())]
    assert defining == ["shared/bitcluster/core/mixture/_base.py"]
