"""The BMM prior ``p(c) p(z | c)`` as a torch module with learnable ``pi`` and ``mu``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bitcluster.core.mixture import EPS
from bitcluster.training.precision import in_float32

# Means are kept in [EPS, 1 - EPS] exactly as the numpy BMM and the exported classifier keep them.
LOGIT_MAX = float(np.log((1 - EPS) / EPS))


class BernoulliMixturePrior(nn.Module):
    """Mixing weights ``pi`` (K) and Bernoulli means ``mu`` (K x D), stored as logits.

    Storing logits keeps ``mu`` strictly inside (0, 1) and lets every log-probability be
    computed with ``logsigmoid``, so no NaN appears for saturated means.
    """

    def __init__(self, clusters: int, bits: int):
        super().__init__()
        self.pi_logits = nn.Parameter(torch.zeros(clusters))
        self.mu_logits = nn.Parameter(0.1 * torch.randn(clusters, bits))

    @property
    def clamped_mu_logits(self) -> torch.Tensor:
        return self.mu_logits.clamp(-LOGIT_MAX, LOGIT_MAX)

    @property
    def log_pi(self) -> torch.Tensor:
        return F.log_softmax(self.pi_logits, dim=0)

    @in_float32  # a sum over D bits of log-probabilities: float32 even under bf16 autocast
    def log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z | c)`` for (N, D) codes in [0, 1]: (N, K) float32."""
        mu_logits = self.clamped_mu_logits
        log_mu = F.logsigmoid(mu_logits)        # log mu
        log_1m = F.logsigmoid(-mu_logits)       # log (1 - mu)
        return z @ (log_mu - log_1m).T + log_1m.sum(dim=1)

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """``log pi_c + log p(z | c)``: (N, K)."""
        return self.log_likelihood(z) + self.log_pi

    def log_posterior(self, z: torch.Tensor) -> torch.Tensor:
        """``log q(c | z)``: (N, K)."""
        return F.log_softmax(self.log_joint(z), dim=1)

    @torch.no_grad()
    def set_parameters(self, log_pi: np.ndarray, means: np.ndarray) -> None:
        """Load ``log pi`` (K,) and ``mu`` (K, D) (e.g. from an EM fit), means clipped to ``[EPS, 1 - EPS]``."""
        mu = np.clip(np.asarray(means, dtype=np.float64), EPS, 1 - EPS)
        self.mu_logits.copy_(torch.as_tensor(np.log(mu) - np.log1p(-mu), dtype=torch.float32))
        self.pi_logits.copy_(torch.as_tensor(log_pi, dtype=torch.float32))

    def numpy_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """``(log_pi (K,), means (K, D))`` as float64 numpy arrays."""
        with torch.no_grad():
            return (self.log_pi.double().cpu().numpy().copy(),
                    torch.sigmoid(self.clamped_mu_logits.double()).cpu().numpy().copy())
