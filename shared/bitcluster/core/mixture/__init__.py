"""Mixture models in numpy, laid out like scikit-learn's ``sklearn.mixture``.

* :class:`BernoulliMixture`: the BMM over binary codes, fitted by EM (the consumer's model);
  :func:`bmm_log_joint`, :func:`bmm_log_posterior` and :func:`classifier_weights` evaluate given
  parameters, :func:`estimate_bernoulli_parameters` makes them from responsibilities.
* :class:`GaussianMixtureParams` and :func:`gaussian_log_joint`: a fitted Gaussian mixture as
  arrays (fitting stays on the training side).
* :func:`logsumexp` and :data:`EPS` (the clip of Bernoulli means): one definition each.

The EM loop, the initialisations and the scoring live once, in ``_base``.
"""

from bitcluster.core.mixture._base import BaseMixture, NotFittedError, logsumexp, normalise_log_joint
from bitcluster.core.mixture._bernoulli import (EPS, BernoulliMixture, bmm_log_joint, bmm_log_posterior,
                                                classifier_weights, estimate_bernoulli_parameters)
from bitcluster.core.mixture._gaussian import LOG_2PI, GaussianMixtureParams, gaussian_log_joint

__all__ = ["EPS", "LOG_2PI", "BaseMixture", "BernoulliMixture", "GaussianMixtureParams", "NotFittedError",
           "bmm_log_joint", "bmm_log_posterior", "classifier_weights", "estimate_bernoulli_parameters",
           "gaussian_log_joint", "logsumexp", "normalise_log_joint"]
