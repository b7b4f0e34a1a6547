"""The learnable Gaussian-mixture prior ``p(c) p(z|c) = pi_c N(z; mu_c, diag sigma_c^2)`` of VaDE and vc,
and the KL divergences of a Gaussian posterior to it."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bitcluster.core.mixture import LOG_2PI, GaussianMixtureParams


class GaussianMixturePrior(nn.Module):
    """Mixing weights ``pi`` (K) stored as logits, means ``mu`` (K, d), log-variances ``log_var`` (K, d)."""

    def __init__(self, clusters: int, latent: int):
        super().__init__()
        self.pi_logits = nn.Parameter(torch.zeros(clusters))
        self.mu = nn.Parameter(torch.randn(clusters, latent))
        self.log_var = nn.Parameter(torch.zeros(clusters, latent))

    @property
    def log_pi(self) -> torch.Tensor:
        return F.log_softmax(self.pi_logits, dim=0)

    def log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``log N(z; mu_c, sigma_c^2)`` of latents (N, d): (N, K)."""
        diff = z[:, None, :] - self.mu                     # (N, K, d)
        return -0.5 * (LOG_2PI + self.log_var + diff**2 / self.log_var.exp()).sum(dim=2)

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """``log pi_c + log N(z; mu_c, sigma_c^2)``: (N, K)."""
        return self.log_likelihood(z) + self.log_pi

    def log_posterior(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(c|z)``: (N, K). VaDE's ``gamma`` is its exponential."""
        return F.log_softmax(self.log_joint(z), dim=1)

    @torch.no_grad()
    def set_parameters(self, weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> None:
        """Load ``pi`` (K,), ``mu`` (K, d) and ``sigma^2`` (K, d), e.g. from a diagonal GMM fit."""
        self.pi_logits.copy_(torch.as_tensor(np.log(weights), dtype=torch.float32))
        self.mu.copy_(torch.as_tensor(means, dtype=torch.float32))
        self.log_var.copy_(torch.as_tensor(np.log(variances), dtype=torch.float32))

    @torch.no_grad()
    def mixture(self) -> GaussianMixtureParams:
        """The prior as numpy arrays, in the form the latent clusterers and the export use."""
        return GaussianMixtureParams(self.log_pi.double().cpu().numpy().copy(), self.mu.double().cpu().numpy().copy(),
                                     torch.exp(-0.5 * self.log_var.double()).cpu().numpy().copy())


def gaussian_kl(mu_q: torch.Tensor, log_var_q: torch.Tensor, mu_p: torch.Tensor,
                log_var_p: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2))`` of diagonal Gaussians, summed over the last axis."""
    return 0.5 * (log_var_p - log_var_q + (log_var_q.exp() + (mu_q - mu_p) ** 2) / log_var_p.exp() - 1.0).sum(dim=-1)


def mixture_prior_kl(mu: torch.Tensor, log_var: torch.Tensor, gamma: torch.Tensor,
                     prior: GaussianMixturePrior) -> torch.Tensor:
    """``KL(q(z|x) q(c|x) || p(z|c) p(c))`` for ``q(z|x) = N(mu, sigma^2)`` and ``q(c|x) = gamma``: (N,).

    VaDE's regulariser (Jiang et al. 2017, eq. 12 without the reconstruction term), in closed form:
    ``sum_c gamma_c KL(N(mu, sigma^2) || N(mu_c, sigma_c^2)) + KL(gamma || pi)``.

    Parameters
    ----------
    mu, log_var : (N, d)
    gamma : (N, K), rows summing to 1
    """
    kl_z = gaussian_kl(mu[:, None, :], log_var[:, None, :], prior.mu, prior.log_var)      # (N, K)
    kl_c = (gamma * (torch.log(gamma.clamp_min(1e-10)) - prior.log_pi)).sum(dim=1)
    return (gamma * kl_z).sum(dim=1) + kl_c
