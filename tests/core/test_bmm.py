import numpy as np
import pytest
import torch

from bitcluster.core.mixture import BernoulliMixture, bmm_log_posterior, classifier_weights
from bitcluster.training.nets.bernoulli_prior import BernoulliMixturePrior


def direct_posterior(z, pi, mu):
    """The textbook formula, product of Bernoulli probabilities, no logs."""
    lik = np.prod(mu[None] ** z[:, None] * (1 - mu[None]) ** (1 - z[:, None]), axis=2)  # (N, K)
    joint = pi[None] * lik
    return joint / joint.sum(axis=1, keepdims=True)


def test_log_posterior_matches_direct_computation():
    rng = np.random.default_rng(1)
    z = rng.integers(0, 2, (50, 12))
    mu = rng.uniform(0.05, 0.95, (4, 12))
    pi = rng.dirichlet(np.ones(4))
    np.testing.assert_allclose(np.exp(bmm_log_posterior(z, np.log(pi), mu)), direct_posterior(z, pi, mu), atol=1e-12)


def test_saturated_means_give_no_nan():
    z = np.array([[1, 0, 1], [0, 0, 0]])
    mu = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    post = np.exp(bmm_log_posterior(z, np.log([0.5, 0.5]), mu))
    assert np.isfinite(post).all()
    np.testing.assert_allclose(post.argmax(1), [0, 1])


def test_linear_form_equals_posterior():
    rng = np.random.default_rng(2)
    z = rng.integers(0, 2, (30, 9))
    mu, pi = rng.uniform(0.01, 0.99, (3, 9)), rng.dirichlet(np.ones(3))
    w, b = classifier_weights(np.log(pi), mu)
    logits = z @ w.astype(np.float64) + b
    ref = bmm_log_posterior(z, np.log(pi), mu)
    np.testing.assert_allclose(logits - logits.max(1, keepdims=True), ref - ref.max(1, keepdims=True), atol=1e-4)


def test_torch_prior_matches_numpy():
    prior = BernoulliMixturePrior(5, 7)
    z = torch.randint(0, 2, (20, 7)).float()
    log_pi, means = prior.numpy_parameters()
    np.testing.assert_allclose(prior.log_posterior(z).detach().numpy(), bmm_log_posterior(z.numpy(), log_pi, means),
                               atol=1e-5)


def test_em_recovers_well_separated_components():
    rng = np.random.default_rng(3)
    protos = rng.integers(0, 2, (3, 40))
    labels = rng.integers(0, 3, 600)
    flips = rng.random((600, 40)) < 0.05
    z = np.where(flips, 1 - protos[labels], protos[labels])
    bmm = BernoulliMixture(3, n_init=3, random_state=0).fit(z)
    from bitcluster.core.metrics import cluster_accuracy

    assert cluster_accuracy(labels, bmm.predict(z)) > 0.99
    assert np.isfinite(bmm.score_samples(z)).all()
    np.testing.assert_allclose(bmm.predict_proba(z).sum(1), 1.0)


def test_fit_rejects_too_few_codes():
    with pytest.raises(ValueError):
        BernoulliMixture(5).fit(np.zeros((3, 4)))


def test_torch_prior_clips_loaded_means_like_the_numpy_bmm():
    """Saturated means loaded into the torch prior give the posterior the numpy BMM gives."""
    prior = BernoulliMixturePrior(2, 3)
    log_pi, means = np.log([0.3, 0.7]), np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 1e-9]])
    prior.set_parameters(log_pi, means)
    z = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    torch_posterior = prior.log_posterior(z).detach().double().numpy()
    np.testing.assert_allclose(torch_posterior, bmm_log_posterior(z.numpy(), log_pi, means), rtol=1e-4, atol=1e-3)


def test_gaussian_prior_mixture_matches_its_torch_log_posterior():
    from bitcluster.training.nets.gaussian_mixture_prior import GaussianMixturePrior

    torch.manual_seed(0)
    prior = GaussianMixturePrior(3, 4)
    z = torch.randn(25, 4)
    np.testing.assert_allclose(prior.mixture().predict_proba(z.numpy()),
                               prior.log_posterior(z).exp().detach().numpy(), atol=1e-5)
