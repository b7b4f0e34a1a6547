"""``vade``: Variational Deep Embedding (Jiang et al., IJCAI 2017).

Generative model: ``c ~ Cat(pi)``, ``z | c ~ N(mu_c, diag sigma_c^2)``, ``x | z ~ Ber(g_s(z))``.
Inference: ``q(z|x) = N(mu(x), diag sigma^2(x))`` and ``q(c|x) ~= p(c|z) = gamma``. Recipe as in
the paper and its code: the networks P-500-500-2000-10 are pre-trained as a plain autoencoder
(latent = the encoder's mean), a diagonal GMM fitted on the pre-trained latent initialises the
prior, then the ELBO is maximised over everything with Adam (lr 0.002, x0.9 every 10 epochs, not
below 0.0002; batches of 100; 500 epochs on MNIST in the authors' code). The pre-trained
autoencoder is, by default, the teacher's
(:mod:`~bitcluster.training.methods.shared_pretraining`), the same network trained until its loss
flattens; ``pretraining="own"`` trains it in the run for ``pretrain_epochs`` epochs.
A test image goes to ``argmax_c p(c | mu(x))`` (the mean instead of a sample: deterministic, and
the same decision as the exported GMM posterior on the latent).

Two additions keep the pre-trained clusters alive when the ELBO phase starts (without them all
latents fell into one or two components within the first epoch on digits):
* the untrained ``log sigma^2(x)`` head starts at a constant 5% of the prior's variance, not at
  a random ``sigma^2 ~ 1``: samples that noisy make ``gamma`` uniform and pull every latent to
  the middle of the components;
* the rate warms up over the first ``warmup_steps`` steps: a fresh Adam's first steps move every
  weight by about the full rate, which scrambles the pre-trained encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bitcluster.data import Dataset
from bitcluster.training.quantiser import UniformQuantiser, bits_per_dim_for
from bitcluster.training.latent_mixtures import fit_latent_mixture
from bitcluster.training.device import current_device
from bitcluster.training.loop import batch_size_for, in_chunks, seeded_generator, train_epochs
from bitcluster.training.methods.mixture_prior_vaes import (PriorLatentState, evaluate_prior_latent_at_rate,
                                                           prior_latent_architecture, prior_latent_loader,
                                                           save_prior_latent)
from bitcluster.training.methods.scoring import evaluate_latent_clustering
from bitcluster.training.methods.shared_pretraining import shared_autoencoder_if_asked
from bitcluster.training.nets.autoencoders import (DENSE_HIDDEN, GaussianEncoder, load_dense_autoencoder,
                                                   reconstruction_loss, reparameterise)
from bitcluster.training.nets.gaussian_mixture_prior import GaussianMixturePrior, mixture_prior_kl
from bitcluster.training.nets.vab import mlp
from bitcluster.training.schedule import paper_learning_rate
from bitcluster.training.teacher import TeacherSource


@dataclass
class VaDEConfig:
    bits: int = 32                  # budget of the exported quantised latent: bits // latent per dimension
    clusters: int = 10
    epochs: int = 500               # the ELBO phase (Jiang et al.'s code: 500 on MNIST), after pre-training
    seed: int = 0
    latent: int = 10
    hidden: list[int] = field(default_factory=lambda: list(DENSE_HIDDEN))
    pretraining: str = "shared"     # "shared": the teacher's autoencoder; "own": trained here
    pretrain_epochs: int = 50       # pretraining="own" only
    pretrain_lr: float = 1e-3
    lr: float = 2e-3                # Jiang et al.: 0.002, decayed x0.9 every 10 epochs ...
    lr_floor: float = 2e-4          # ... never below 0.0002 (their code)
    batch_size: int | None = 100    # Jiang et al.: 100
    loss: str = "bce"
    warmup_steps: int = 200
    posterior_variance: float = 0.05  # initial sigma^2(x), as a fraction of the prior's mean variance
    gmm_restarts: int = 1
    quantiser_tail: float = 0.001


class VaDE(nn.Module):
    """``q_z``: the Gaussian encoder; ``g_s``: the decoder (pixel logits); ``prior``: the GMM ``p(c) p(z|c)``."""

    def __init__(self, n_pixels: int, latent: int, clusters: int, hidden: list[int]):
        super().__init__()
        self.q_z = GaussianEncoder([n_pixels, *hidden], latent)
        self.g_s = mlp([latent, *reversed(hidden), n_pixels])
        self.prior = GaussianMixturePrior(clusters, latent)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One sample ``z ~ q(z|x)``: returns ``mu``, ``log_var``, ``z`` (N, d) and ``x_logits`` (N, P)."""
        mu, log_var = self.q_z(x)
        z = reparameterise(mu, log_var, generator)
        return {"mu": mu, "log_var": log_var, "z": z, "x_logits": self.g_s(z)}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent of an image: the mean of q(z|x), (N, d)."""
        return self.q_z(x)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.g_s(z))

    @torch.no_grad()
    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """``argmax_c p(c|z)``: (N,) int64."""
        return self.prior.log_joint(z).argmax(dim=1)


def elbo_terms(x: torch.Tensor, out: dict[str, torch.Tensor], prior: GaussianMixturePrior, loss: str = "bce"):
    """Per-batch means of ``-log p(x|z)`` (``recon``) and ``KL(q(z,c|x) || p(z,c))`` (``kl``); ``loss`` = their sum.

    ``gamma = p(c|z)`` at the sampled ``z``, and gradients flow through it, as in VaDE's code.
    """
    recon = reconstruction_loss(out["x_logits"], x, loss)
    gamma = prior.log_posterior(out["z"]).exp()
    kl = mixture_prior_kl(out["mu"], out["log_var"], gamma, prior)
    return {"loss": (recon + kl).mean(), "recon": recon.mean(), "kl": kl.mean()}


def pretrain(model: VaDE, x: torch.Tensor, epochs: int, cfg: VaDEConfig, gen, progress: bool) -> list[dict]:
    """Train ``q_z``'s mean and ``g_s`` as a deterministic autoencoder."""
    params = [*model.q_z.g_a.parameters(), *model.q_z.mu.parameters(), *model.g_s.parameters()]

    def step(xb, _idx):
        return {"loss": reconstruction_loss(model.g_s(model.q_z(xb)[0]), xb, cfg.loss).mean()}

    return train_epochs(step, params, x, epochs, gen=gen, batch_size=batch_size_for(len(x), cfg.batch_size),
                        lr=cfg.pretrain_lr, phase="vade pretrain", progress=progress)


def init_prior(model: VaDE, x: np.ndarray, cfg: VaDEConfig) -> dict:
    """Fit a diagonal GMM to the pre-trained latent, copy it into the prior, start ``sigma^2(x)`` small."""
    gmm, info = fit_latent_mixture(in_chunks(model.encode, x), "gmm", cfg.clusters, cfg.seed, covariance="diag",
                                   restarts=cfg.gmm_restarts)
    variances = 1.0 / gmm.precision_cholesky**2
    model.prior.set_parameters(np.exp(gmm.log_pi), gmm.means, variances)
    with torch.no_grad():
        model.q_z.log_var.weight.zero_()
        model.q_z.log_var.bias.fill_(float(np.log(cfg.posterior_variance * variances.mean())))
    return info


def train_vade(data: Dataset, cfg: VaDEConfig, progress: bool, teachers: TeacherSource) -> tuple[VaDE, list[dict]]:
    """Pre-train (or take the shared autoencoder), initialise the prior, maximise the ELBO. Labels are never read."""
    # before seeding: a cache hit and a build leave the same random state
    shared = shared_autoencoder_if_asked(cfg.pretraining, teachers, data, cfg.clusters, cfg.seed, cfg.latent, cfg.hidden, progress)
    gen = seeded_generator(cfg.seed)
    model = VaDE(data.n_pixels, cfg.latent, cfg.clusters, list(cfg.hidden))
    if shared is not None:
        autoencoder, history = shared
        load_dense_autoencoder(model.q_z, model.g_s, autoencoder)
    model.to(current_device())
    x = torch.from_numpy(data.x_train).to(current_device())
    if shared is None:
        history = pretrain(model, x, cfg.pretrain_epochs, cfg, gen, progress)
    info = init_prior(model, data.x_train, cfg)
    if history:
        history[-1]["prior_init"] = info

    def step(xb, _idx):
        return elbo_terms(xb, model(xb, gen), model.prior, cfg.loss)

    history += train_epochs(step, model.parameters(), x, cfg.epochs, gen=gen,
                            batch_size=batch_size_for(len(x), cfg.batch_size),
                            lr=lambda e: paper_learning_rate(e, lr0=cfg.lr, decay=0.9, every=10, floor=cfg.lr_floor),
                            phase="vade elbo", progress=progress, first_epoch=len(history),
                            warmup_steps=cfg.warmup_steps)
    return model.eval(), history


def protocol_notes(cfg: VaDEConfig, data: Dataset) -> list[str]:
    """Where this run's recipe differs from Jiang et al.'s code (MNIST settings)."""
    notes = ["pre-training: the shared representation stage's autoencoder (Bernoulli loss, until its loss flattens); "
             "Jiang et al. load DEC-style stacked-autoencoder weights" if cfg.pretraining == "shared"
             else f"pre-training: {cfg.pretrain_epochs} epochs in the run on the {cfg.loss} loss"]
    notes.append("trained on the training split only (Jiang et al.: all 70000 MNIST images)")
    notes.append(f"log sigma^2(x) starts at {cfg.posterior_variance} of the prior's variance and the rate warms up "
                 f"over {cfg.warmup_steps} steps (Jiang et al.: a random log-variance head, no warm-up)")
    if cfg.epochs != 500:
        notes.append(f"ELBO phase cut to {cfg.epochs} epochs (Jiang et al.: 500)")
    if cfg.batch_size != 100:
        notes.append(f"batch size {cfg.batch_size or 'default'} (Jiang et al.: 100)")
    if (cfg.lr, cfg.lr_floor) != (2e-3, 2e-4):
        notes.append(f"rate {cfg.lr} floored at {cfg.lr_floor} (Jiang et al.: 0.002 floored at 0.0002)")
    return notes


architecture = prior_latent_architecture
evaluate_at_rate = evaluate_prior_latent_at_rate


def train(data: Dataset, cfg: VaDEConfig, progress: bool = True,
          teachers: TeacherSource | None = None) -> tuple[PriorLatentState, list[dict]]:
    """:func:`train_vade`, and the quantiser's range from the training latents."""
    model, history = train_vade(data, cfg, progress, teachers or TeacherSource())
    quantiser = UniformQuantiser.fit(in_chunks(model.encode, data.x_train), cfg.quantiser_tail)
    return PriorLatentState(model, quantiser, bits_per_dim_for(cfg.bits, cfg.latent)), history


save = save_prior_latent
load = prior_latent_loader(VaDE)


def evaluate(state: PriorLatentState, data: Dataset) -> dict:
    model = state.model
    z = in_chunks(model.encode, data.x_test)
    clusters = in_chunks(model.classify, z)
    return evaluate_latent_clustering(data, z, clusters, model.prior.mixture(), state.quantiser, state.bits_per_dim,
                                      lambda zz: in_chunks(model.decode, zz))

