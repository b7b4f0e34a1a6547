"""The VAB evidence lower bound, eq. 10-17 of the paper, estimated with one sample (L = 1)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from bitcluster.training.nets.bernoulli_prior import BernoulliMixturePrior
from bitcluster.training.precision import in_float32


@in_float32  # the network's outputs may be bfloat16 (--precision bf16); the ELBO is summed in float32
def elbo_terms(x: torch.Tensor, out: dict[str, torch.Tensor], prior: BernoulliMixturePrior) -> dict[str, torch.Tensor]:
    """Per-batch means of the four ELBO terms.

    * ``A1`` (eq. 14): ``log p(x | y)``, Bernoulli pixels;
    * ``A2`` (eq. 15): the entropy of ``q(z | x)``;
    * ``A3`` (eq. 16): ``sum_c q(c | y) log p(y | c)``;
    * ``A4`` (eq. 17): ``sum_c q(c | y) [log p(c) - log q(c | y)]``.

    The ELBO is ``A1 + A2 + A3 + A4``; the loss to minimise is its negative.
    """
    logits, z = out["logits"], out["z"]
    a1 = -F.binary_cross_entropy_with_logits(out["x_logits"], x, reduction="none").sum(dim=1)
    # Entropy of a Bernoulli with logit l, written stably: H = softplus(l) - l * sigmoid(l).
    a2 = (F.softplus(logits) - logits * torch.sigmoid(logits)).sum(dim=1)
    log_lik = prior.log_likelihood(z)                    # log p(y | c), (N, K)
    log_q_c = F.log_softmax(log_lik + prior.log_pi, dim=1)  # log q(c | y)
    q_c = log_q_c.exp()
    a3 = (q_c * log_lik).sum(dim=1)
    a4 = (q_c * (prior.log_pi - log_q_c)).sum(dim=1)
    return {"A1": a1.mean(), "A2": a2.mean(), "A3": a3.mean(), "A4": a4.mean(), "log_q_c": log_q_c}
