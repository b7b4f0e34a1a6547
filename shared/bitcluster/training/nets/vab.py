"""VAB: a binary variational autoencoder with a Bernoulli mixture prior (the paper's section 3-4).

Names follow the math: ``g_a`` is the analysis transform (encoder, image -> code logits),
``g_s`` the synthesis transform (decoder, code -> pixel logits), ``prior`` the BMM
``p(c) p(z | c)``. ``forward`` returns what the loss needs; ``encode`` returns the
deterministic code the vendor ships.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from bitcluster.training.nets.bernoulli_prior import BernoulliMixturePrior
from bitcluster.training.nets.binary_concrete import binary_concrete, deterministic_code


def mlp(sizes: list[int]) -> nn.Sequential:
    """Fully connected layers with ReLU between them and none after the last one."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@dataclass
class VABConfig:
    """Shapes of the model. ``hidden`` is the encoder's; the decoder mirrors it (1024-512-256-D)."""

    n_pixels: int
    bits: int
    clusters: int
    hidden: list[int] = field(default_factory=lambda: [512, 256])

    def to_dict(self) -> dict:
        return asdict(self)


class VAB(nn.Module):
    def __init__(self, config: VABConfig):
        super().__init__()
        self.config = config
        h = list(config.hidden)
        # No activation on the code logits: a ReLU there (as in the published code) pins every
        # logit that goes negative at 0, i.e. q = 0.5, and those bits die.
        self.g_a = mlp([config.n_pixels, *h, config.bits])
        self.g_s = mlp([config.bits, *reversed(h), config.n_pixels])
        self.prior = BernoulliMixturePrior(config.clusters, config.bits)

    def forward(self, x: torch.Tensor, tau: float, hard: bool = True,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One stochastic pass.

        Returns ``logits`` (N, D) of q(z|x), the sample ``z`` (N, D) and ``x_logits`` (N, P),
        the decoder's Bernoulli logits for the pixels.
        """
        logits = self.g_a(x)
        z = binary_concrete(logits, tau, hard=hard, generator=generator)
        return {"logits": logits, "z": z, "x_logits": self.g_s(z)}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic code ``1[q(z|x) > 0.5]``: (N, D) uint8."""
        return deterministic_code(self.g_a(x))

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction (pixel means in [0, 1]) of codes (N, D)."""
        return torch.sigmoid(self.g_s(z.float()))

    @torch.no_grad()
    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """Cluster of each code under the BMM: (N,) int64."""
        return self.prior.log_joint(z.float()).argmax(dim=1)
