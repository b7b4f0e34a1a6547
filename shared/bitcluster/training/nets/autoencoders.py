"""The networks of the baselines.

Names follow the math as in :mod:`bitcluster.training.nets.vab`: ``g_a`` is the analysis transform
(image -> latent), ``g_s`` the synthesis transform (latent -> pixel logits; ``sigmoid`` of them is
the reconstruction).

* :class:`DenseAutoencoder` -- ``P-500-500-2000-10`` and its mirror (DEC, VaDE, Bhattarai);
* :class:`ConvAutoencoder` -- three strided convolutions and a dense 10-d latent (Bhattarai,
  after DCEC), sized for any image, grey or RGB: each convolution halves height and width,
  rounding up (32 -> 16 -> 8 -> 4 for MNIST, 8 -> 4 -> 2 -> 1 for digits);
* :class:`GaussianEncoder` -- ``q(z|x) = N(mu(x), diag sigma^2(x))`` on a dense trunk, shared by
  VaDE, k-DVAE and variational clustering.

:func:`pretrain_autoencoder` trains an autoencoder on reconstruction alone (ae-*, convae-*, k-DAE).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from bitcluster.training.device import noise_device
from bitcluster.training.nets.vab import mlp
from bitcluster.training.loop import train_epochs

DENSE_HIDDEN = [500, 500, 2000]
CONV_CHANNELS = [32, 64, 128]
CONV_KERNELS = [5, 5, 3]
RECONSTRUCTION_LOSSES = ("mse", "bce")


def reconstruction_loss(x_logits: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-image loss, summed over pixels: (N,).

    ``"mse"`` is the squared error of the reconstruction ``sigmoid(logits)`` (Bhattarai, k-DAE);
    ``"bce"`` the Bernoulli negative log-likelihood ``-log p(x|z)`` (VaDE, k-DVAE on [0, 1] pixels).
    """
    if kind == "mse":
        return ((torch.sigmoid(x_logits) - x) ** 2).sum(dim=1)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=1)
    raise ValueError(f"unknown reconstruction loss {kind!r}; choose one of {RECONSTRUCTION_LOSSES}")


class Autoencoder(nn.Module):
    """What both autoencoders do with their ``g_a`` and ``g_s``."""

    g_a: nn.Module
    g_s: nn.Module

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.g_a(x)
        return {"z": z, "x_logits": self.g_s(z)}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent (N, d) of images (N, P)."""
        return self.g_a(x)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction (N, P) in [0, 1] of latents (N, d)."""
        return torch.sigmoid(self.g_s(z))


class DenseAutoencoder(Autoencoder):
    """``g_a``: P-500-500-2000-d with ReLU between layers and a linear latent; ``g_s`` mirrors it."""

    def __init__(self, n_pixels: int, latent: int = 10, hidden: list[int] | None = None):
        super().__init__()
        h = list(DENSE_HIDDEN if hidden is None else hidden)
        self.g_a = mlp([n_pixels, *h, latent])
        self.g_s = mlp([latent, *reversed(h), n_pixels])


def conv_sizes(height: int, width: int, layers: int = 3) -> list[tuple[int, int]]:
    """Feature-map sizes through ``layers`` stride-2 'same' convolutions: [(H, W), ..., (h, w)]."""
    sizes = [(height, width)]
    for _ in range(layers):
        h, w = sizes[-1]
        sizes.append((math.ceil(h / 2), math.ceil(w / 2)))
    return sizes


class FlatToPlanes(nn.Module):
    """Input vectors (N, H*W*C) in HWC order -> image planes (N, C, H, W), as convolutions read them."""

    def __init__(self, height: int, width: int, channels: int):
        super().__init__()
        self.height, self.width, self.channels = height, width, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels == 1:
            # HWC and CHW are the same order for one channel: without a transpose, a grey model
            # traces to the same ONNX nodes as before colour
            return x.unflatten(1, (1, self.height, self.width))
        return x.unflatten(1, (self.height, self.width, self.channels)).permute(0, 3, 1, 2)


class PlanesToFlat(nn.Module):
    """Image planes (N, C, H, W) -> vectors (N, H*W*C) in HWC order: the inverse of :class:`FlatToPlanes`."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels == 1:
            return x.flatten(1)
        return x.permute(0, 2, 3, 1).flatten(1)


class ConvAutoencoder(Autoencoder):
    """Conv 32 5x5/2 - Conv 64 5x5/2 - Conv 128 3x3/2 - dense d; the decoder mirrors it with transposed convs.

    Images come in flat (N, H*W*C) in HWC order like everywhere else in bitcluster
    (:meth:`~bitcluster.core.preprocessing.Preprocessing.images`); ``g_a`` turns them into C planes
    and ``g_s`` gives its logits back in the same flat HWC order, so the reconstruction loss
    compares like with like.

    Parameters
    ----------
    height, width : the image size
    latent : d
    channels : the convolutions' widths (default :data:`CONV_CHANNELS`)
    image_channels : C, 1 grey or 3 RGB
    """

    def __init__(self, height: int, width: int, latent: int = 10, channels: list[int] | None = None, *,
                 image_channels: int = 1):
        super().__init__()
        c = [image_channels, *(CONV_CHANNELS if channels is None else channels)]
        sizes = conv_sizes(height, width, len(c) - 1)
        h, w = sizes[-1]
        # FlatToPlanes and PlanesToFlat hold no weights and sit where nn.Unflatten and nn.Flatten
        # did, so a grey run saved before colour loads into the same parameter names
        encoder: list[nn.Module] = [FlatToPlanes(height, width, image_channels)]
        for i, k in enumerate(CONV_KERNELS[:len(c) - 1]):
            encoder += [nn.Conv2d(c[i], c[i + 1], k, stride=2, padding=k // 2), nn.ReLU()]
        encoder += [nn.Flatten(), nn.Linear(c[-1] * h * w, latent)]
        self.g_a = nn.Sequential(*encoder)

        decoder: list[nn.Module] = [nn.Linear(latent, c[-1] * h * w), nn.ReLU(), nn.Unflatten(1, (c[-1], h, w))]
        for i in reversed(range(len(c) - 1)):
            k = CONV_KERNELS[i]
            (h_out, w_out), (h_in, w_in) = sizes[i], sizes[i + 1]
            # a stride-2 transposed conv gives 2n - 1 + output_padding: pad by one where the encoder rounded up
            pad_out = (h_out - (2 * h_in - 1), w_out - (2 * w_in - 1))
            decoder.append(nn.ConvTranspose2d(c[i + 1], c[i], k, stride=2, padding=k // 2, output_padding=pad_out))
            if i > 0:
                decoder.append(nn.ReLU())
        decoder.append(PlanesToFlat(image_channels))
        self.g_s = nn.Sequential(*decoder)


def pretrain_autoencoder(ae: Autoencoder, x: torch.Tensor, epochs: int, *, gen: torch.Generator, batch_size: int,
                         lr: float, loss: str, progress: bool, phase: str = "pretrain") -> list[dict]:
    """Minimise the reconstruction loss of ``ae`` on images ``x`` (N, P); returns the history rows."""

    def step(xb, _idx):
        return {"loss": reconstruction_loss(ae(xb)["x_logits"], xb, loss).mean()}

    return train_epochs(step, ae.parameters(), x, epochs, gen=gen, batch_size=batch_size, lr=lr,
                        phase=phase, progress=progress)


class GaussianEncoder(nn.Module):
    """``q(z|x) = N(mu(x), diag exp(log_var(x)))``: a dense trunk ``g_a`` (ReLU after every layer) and two heads."""

    def __init__(self, sizes: list[int], latent: int):
        super().__init__()
        self.g_a = nn.Sequential(mlp(sizes), nn.ReLU())
        self.mu = nn.Linear(sizes[-1], latent)
        self.log_var = nn.Linear(sizes[-1], latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mu`` and ``log sigma^2``, each (N, d)."""
        h = self.g_a(x)
        return self.mu(h), self.log_var(h)


@torch.no_grad()
def load_dense_autoencoder(encoder: GaussianEncoder, decoder: nn.Sequential, autoencoder: DenseAutoencoder) -> None:
    """Copy a trained :class:`DenseAutoencoder` of the same sizes into a Gaussian encoder's trunk and mean, and a decoder.

    The autoencoder's latent becomes the mean ``mu(x)``; ``log_var(x)`` is left as it is (VaDE's
    pre-training has no variance either).
    """
    source = [m for m in autoencoder.g_a if isinstance(m, nn.Linear)]
    target = [m for m in encoder.g_a.modules() if isinstance(m, nn.Linear)] + [encoder.mu]
    if [tuple(m.weight.shape) for m in source] != [tuple(m.weight.shape) for m in target]:
        raise ValueError("the autoencoder's layer sizes differ from the encoder's")
    for s, t in zip(source, target):
        t.weight.copy_(s.weight)
        t.bias.copy_(s.bias)
    decoder.load_state_dict(autoencoder.g_s.state_dict())


def reparameterise(mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``z = mu + sigma * eps``, ``eps ~ N(0, I)``: a sample of q(z|x) that gradients flow through."""
    eps = torch.randn(mu.shape, generator=generator, device=noise_device(generator, mu.device)).to(mu.device)
    return mu + torch.exp(0.5 * log_var) * eps


def kl_to_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, sigma^2) || N(0, I))`` summed over the last axis."""
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(dim=-1)
