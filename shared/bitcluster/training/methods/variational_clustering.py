"""``vc``: variational clustering, a Gaussian-mixture VAE trained end to end from scratch.

After "Variational Clustering: Leveraging Variational Autoencoders for Image Clustering", of
which our library holds only the abstract: the details below are ours, in the GMVAE family it
describes. Generative model as VaDE's: ``c ~ Cat(pi)``, ``z | c ~ N(mu_c, diag sigma_c^2)``
(learned), ``x | z ~ Ber(g_s(z))``. The posterior mixes a discrete and a continuous variable:

    q(c|x) = Cat(softmax(l(x))),   q(z|x, c) = N(m_c(x), diag s_c^2(x)),

and the latent is reparameterised as ``z = sum_c y_c (m_c(x) + s_c(x) eps)`` with ``y`` a relaxed
Gumbel-Softmax sample of ``q(c|x)`` and ``eps ~ N(0, I)``. (``hard=True`` makes ``y`` a
straight-through one-hot, so ``z`` a sample of one component; it clustered worse on digits.)
The ELBO, with the discrete KL in closed form:

    E log p(x|z) - KL(q(c|x) || pi) - sum_c q(c|x) KL(q(z|x, c) || N(mu_c, sigma_c^2)).

No pre-training (the paper's point). The continuous KL is warmed up from weight 0 to 1 over the
first 30% of the epochs: without it the continuous latent can collapse onto the prior within a
few epochs. Two choices keep the clusters alive (without them, training ends in a few of the K):

* ``p(c)`` is the uniform 1/K (``prior_weights="uniform"``, as in the GMVAE of Dilokthanakul et
  al.). Learned, the weights of the crowded components grow because that lowers
  ``KL(q(c|x) || pi)``, which crowds them further;
* the categorical KL keeps weight 1 during the warm-up: at weight 0 nothing spreads the images
  over the components while the decoder learns, and the first heads that reconstruct well win. A test image goes
to ``argmax_c q(c|x)``. Its latent, for export, is ``z(x) = sum_c q(c|x) m_c(x)``, which the
exported classifier reads through the prior, ``argmax_c p(c|z)``; ``agreement_latent`` says how
often the two decisions agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bitcluster.data import Dataset
from bitcluster.training.quantiser import UniformQuantiser, bits_per_dim_for
from bitcluster.training.device import current_device, noise_device
from bitcluster.training.loop import batch_size_for, in_chunks, seeded_generator, train_epochs
from bitcluster.training.methods.mixture_prior_vaes import (PriorLatentState, evaluate_prior_latent_at_rate,
                                                           prior_latent_architecture, prior_latent_loader,
                                                           save_prior_latent)
from bitcluster.training.methods.scoring import evaluate_latent_clustering
from bitcluster.training.nets.autoencoders import DENSE_HIDDEN, reconstruction_loss
from bitcluster.training.nets.gaussian_mixture_prior import GaussianMixturePrior, gaussian_kl
from bitcluster.training.nets.vab import mlp
from bitcluster.training.schedule import temperature


PRIOR_WEIGHTS = ("uniform", "learned")


@dataclass
class VCConfig:
    bits: int = 32                  # budget of the exported quantised latent: bits // latent per dimension
    clusters: int = 10
    epochs: int = 100
    seed: int = 0
    latent: int = 10
    hidden: list[int] = field(default_factory=lambda: list(DENSE_HIDDEN))
    lr: float = 1e-3
    batch_size: int | None = None
    hard: bool = False              # True: straight-through one-hot samples (worse on digits)
    tau0: float = 1.0               # temperature max(tau_min, tau0 exp(-tau_rate * epoch))
    tau_min: float = 0.5
    tau_rate: float = 0.05
    kl_warmup: float = 0.3          # KL(q(z|x,c) || p(z|c))'s weight ramps from 0 to 1 over this fraction of the epochs
    prior_weights: str = "uniform"  # p(c): "uniform" (fixed 1/K, GMVAE) or "learned" (collapsed to 2 of 10 on digits)
    quantiser_tail: float = 0.001


class _StraightThroughOneHot(torch.autograd.Function):
    """Forward: the exact one-hot of the row's argmax; backward: identity (the soft sample's gradient)."""

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y.argmax(dim=-1), y.shape[-1]).to(y.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def gumbel_noise(shape: torch.Size, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Gumbel(0, 1) samples ``-log(-log u)``, ``u ~ U(0, 1)``."""
    u = torch.rand(shape, generator=generator, device=noise_device(generator, device)).to(device)
    u = u.clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A relaxed sample of ``Cat(softmax(logits))`` over the last axis: ``softmax((logits + g) / tau)``.

    With ``hard=True`` the forward value is the one-hot argmax (a sample of the categorical,
    by the Gumbel-max trick) and the gradient that of the relaxed sample (straight-through).
    ``torch.nn.functional.gumbel_softmax`` takes no generator, hence this one.
    """
    y = F.softmax((logits + gumbel_noise(logits.shape, generator, logits.device)) / tau, dim=-1)
    return _StraightThroughOneHot.apply(y) if hard else y


class VariationalClustering(nn.Module):
    """``g_a``: trunk; ``q_c``: logits of q(c|x); ``q_z_mu``, ``q_z_log_var``: K Gaussians q(z|x, c);
    ``g_s``: decoder; ``prior``: the GMM ``p(c) p(z|c)``."""

    def __init__(self, n_pixels: int, latent: int, clusters: int, hidden: list[int]):
        super().__init__()
        self.clusters, self.latent = clusters, latent
        self.g_a = nn.Sequential(mlp([n_pixels, *hidden]), nn.ReLU())
        self.q_c = nn.Linear(hidden[-1], clusters)
        self.q_z_mu = nn.Linear(hidden[-1], clusters * latent)
        self.q_z_log_var = nn.Linear(hidden[-1], clusters * latent)
        self.g_s = mlp([latent, *reversed(hidden), n_pixels])
        self.prior = GaussianMixturePrior(clusters, latent)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits of q(c|x) (N, K) and ``m_c(x)``, ``log s_c^2(x)`` (N, K, d)."""
        h = self.g_a(x)
        shape = (len(x), self.clusters, self.latent)
        return self.q_c(h), self.q_z_mu(h).view(shape), self.q_z_log_var(h).view(shape)

    def forward(self, x: torch.Tensor, tau: float, hard: bool = True,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        logits, mu, log_var = self.posterior(x)
        y = gumbel_softmax(logits, tau, hard, generator)                          # (N, K)
        eps = torch.randn((len(x), 1, self.latent), generator=generator,
                          device=noise_device(generator, x.device)).to(x.device)
        z = (y[:, :, None] * (mu + torch.exp(0.5 * log_var) * eps)).sum(dim=1)    # (N, d)
        return {"logits": logits, "mu": mu, "log_var": log_var, "z": z, "x_logits": self.g_s(z)}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent of an image, ``sum_c q(c|x) m_c(x)``: (N, d)."""
        logits, mu, _ = self.posterior(x)
        return (F.softmax(logits, dim=1)[:, :, None] * mu).sum(dim=1)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.g_s(z))

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``argmax_c q(c|x)``: (N,) int64."""
        return self.posterior(x)[0].argmax(dim=1)


def elbo_terms(x: torch.Tensor, out: dict[str, torch.Tensor], prior: GaussianMixturePrior,
               beta_z: float = 1.0) -> dict[str, torch.Tensor]:
    """Per-batch means of ``-log p(x|z)``, ``KL(q(c|x) || pi)`` and ``E_q(c|x) KL(q(z|x,c) || p(z|c))``.

    ``loss`` is the negative ELBO with the continuous KL weighted by ``beta_z`` (1 is the ELBO).
    The categorical KL always has weight 1: with weight 0 nothing spreads the images over the
    components while the decoder learns, and the first heads that reconstruct well take them all.
    """
    recon = reconstruction_loss(out["x_logits"], x, "bce")
    log_q_c = F.log_softmax(out["logits"], dim=1)
    kl_c = (log_q_c.exp() * (log_q_c - prior.log_pi)).sum(dim=1)
    kl_z = (log_q_c.exp() * gaussian_kl(out["mu"], out["log_var"], prior.mu, prior.log_var)).sum(dim=1)
    return {"loss": (recon + kl_c + beta_z * kl_z).mean(), "recon": recon.mean(), "kl_c": kl_c.mean(),
            "kl_z": kl_z.mean()}


architecture = prior_latent_architecture
evaluate_at_rate = evaluate_prior_latent_at_rate


def train(data: Dataset, cfg: VCConfig, progress: bool = True) -> tuple[PriorLatentState, list[dict]]:
    """Maximise the ELBO of the module docstring from scratch, the KL terms warmed up; labels are never read."""
    if cfg.prior_weights not in PRIOR_WEIGHTS:
        raise ValueError(f"unknown prior_weights {cfg.prior_weights!r}; choose one of {', '.join(PRIOR_WEIGHTS)}")
    gen = seeded_generator(cfg.seed)
    model = VariationalClustering(data.n_pixels, cfg.latent, cfg.clusters, list(cfg.hidden)).to(current_device())
    if cfg.prior_weights == "uniform":
        # Learned weights let KL(q(c|x) || pi) pay less by emptying components: -log pi_c of a
        # crowded component shrinks, so the crowded ones grow further (2 of 10 left on digits).
        model.prior.pi_logits.requires_grad_(False)
    x = torch.from_numpy(data.x_train).to(current_device())
    batch_size = batch_size_for(len(x), cfg.batch_size)
    warmup_steps = cfg.kl_warmup * cfg.epochs * math.ceil(len(x) / batch_size)
    now = {"tau": cfg.tau0, "steps": 0}

    def before_epoch(epoch: int) -> None:
        now["tau"] = temperature(epoch, cfg.tau0, cfg.tau_rate, cfg.tau_min)

    def step(xb, _idx):
        beta_z = min(1.0, now["steps"] / warmup_steps) if warmup_steps else 1.0
        now["steps"] += 1
        return elbo_terms(xb, model(xb, now["tau"], cfg.hard, gen), model.prior, beta_z)

    history = train_epochs(step, model.parameters(), x, cfg.epochs, gen=gen, batch_size=batch_size, lr=cfg.lr,
                           phase="vc elbo", progress=progress, before_epoch=before_epoch,
                           after_epoch=lambda _epoch, row: row.update(tau=now["tau"]))
    model.eval()
    quantiser = UniformQuantiser.fit(in_chunks(model.encode, data.x_train), cfg.quantiser_tail)
    return PriorLatentState(model, quantiser, bits_per_dim_for(cfg.bits, cfg.latent)), history


def protocol_notes(cfg: VCConfig, data: Dataset) -> list[str]:
    """What of this recipe is ours: the library holds only the paper's abstract."""
    return ["the paper's abstract only: networks, schedule, KL warm-up and p(c) "
            f"({cfg.prior_weights}) are ours, in the GMVAE family it describes; no pre-training, as in the paper"]


save = save_prior_latent
load = prior_latent_loader(VariationalClustering)


def evaluate(state: PriorLatentState, data: Dataset) -> dict:
    model = state.model
    z = in_chunks(model.encode, data.x_test)
    clusters = in_chunks(model.classify, data.x_test)
    mixture = model.prior.mixture()
    m = evaluate_latent_clustering(data, z, clusters, mixture, state.quantiser, state.bits_per_dim,
                                   lambda zz: in_chunks(model.decode, zz))
    m["agreement_latent"] = float(np.mean(mixture.predict(z) == clusters))
    return m

