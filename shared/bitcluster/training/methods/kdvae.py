"""``kdvae``: k VAEs, one per cluster (k-DVAE, "A mixture of variational autoencoders for deep clustering").

Generative model: ``y ~ Cat(alpha)``, ``z ~ N(0, I)``, ``x | z, y=i ~ Ber(g_s_i(z))``. Each cluster
``i`` has its own encoder ``q(z|x, y=i) = N(mu_i(x), diag sigma_i^2(x))`` and decoder, dense
P-500-100-10 and back. Training maximises the hard-assignment ELBO of eq. 6,

    max_i [ log p(x | z_i, y=i) - KL(N(mu_i(x), sigma_i^2(x)) || N(0, I)) ],  z_i ~ q(z|x, y=i),

and an image is clustered by eq. 8, the deterministic version at ``z_i = mu_i(x)``:

    argmax_i [ log p(x | mu_i(x), y=i) - ||mu_i(x)||^2 / 2 + sum_s log sigma_is(x) ].

Initialisation as in the paper's section 4.2: train VaDE, run K-means on VaDE's latent, then
(our reading of "initial clusters") train each VAE on its initial cluster before the joint eq. 6
phase. Not exportable: the decision needs every decoder's reconstruction of the raw image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bitcluster.data import Dataset
from bitcluster.training.latent_mixtures import fit_latent_mixture
from bitcluster.training.device import current_device
from bitcluster.training.loop import batch_size_for, in_chunks, seeded_generator, split_epochs, train_epochs
from bitcluster.training.methods.scoring import evaluate_by_reconstruction, with_cluster_sizes
from bitcluster.training.methods.vade import VaDEConfig, train_vade
from bitcluster.training.methods.vade import protocol_notes as vade_protocol_notes
from bitcluster.training.nets.autoencoders import DENSE_HIDDEN, GaussianEncoder, kl_to_standard_normal, reparameterise
from bitcluster.training.nets.vab import mlp
from bitcluster.training.runs import read_config
from bitcluster.training.teacher import TeacherSource
from bitcluster.training.weights import load_weights, save_weights


@dataclass
class KDVAEConfig:
    clusters: int = 10
    epochs: int = 200                  # in all: VaDE (its own pre-training included), per-cluster init, joint
    seed: int = 0
    latent: int = 10
    hidden: list[int] = field(default_factory=lambda: [500, 100])
    vade_hidden: list[int] = field(default_factory=lambda: list(DENSE_HIDDEN))
    pretraining: str = "shared"        # VaDE's: "shared" (the teacher's autoencoder) or "own"
    phase_fractions: list[float] = field(default_factory=lambda: [0.5, 0.2, 0.3])
    lr: float = 1e-3
    batch_size: int | None = None


def bernoulli_log_likelihood(x: torch.Tensor, x_logits: torch.Tensor) -> torch.Tensor:
    """``log p(x | z_i)`` of images (N, P) under pixel logits (K, N, P): (N, K)."""
    return -F.binary_cross_entropy_with_logits(x_logits, x.expand_as(x_logits), reduction="none").sum(dim=2).T


def elbo_per_cluster(x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor, x_logits: torch.Tensor) -> torch.Tensor:
    """The bracket of eq. 6 for every cluster: ``log p(x | z_i) - KL(q(z|x, i) || N(0, I))``, (N, K).

    Parameters
    ----------
    x : (N, P); mu, log_var : (K, N, d); x_logits : (K, N, P), decoded from samples ``z_i``
    """
    return bernoulli_log_likelihood(x, x_logits) - kl_to_standard_normal(mu, log_var).T


def hard_assignment_scores(x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor,
                           x_logits_at_mu: torch.Tensor) -> torch.Tensor:
    """The bracket of eq. 8: ``log p(x | mu_i) - ||mu_i||^2 / 2 + sum_s log sigma_is``, (N, K).

    Eq. 7 before simplification: ``log p(x | z) + log N(z; 0, I) - log q(z | x, i)`` at ``z = mu_i``;
    the ``2 pi`` constants of the two Gaussians cancel. ``x_logits_at_mu`` is decoded from ``mu``.
    """
    return bernoulli_log_likelihood(x, x_logits_at_mu) - 0.5 * (mu**2).sum(dim=2).T + 0.5 * log_var.sum(dim=2).T


class KVAEs(nn.Module):
    """``q_z[i]``: the Gaussian encoder of cluster i; ``g_s[i]``: its decoder (pixel logits)."""

    def __init__(self, n_pixels: int, clusters: int, latent: int, hidden: list[int]):
        super().__init__()
        self.q_z = nn.ModuleList(GaussianEncoder([n_pixels, *hidden], latent) for _ in range(clusters))
        self.g_s = nn.ModuleList(mlp([latent, *reversed(hidden), n_pixels]) for _ in range(clusters))

    def posteriors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mu_i(x)`` and ``log sigma_i^2(x)`` of every cluster: each (K, N, d)."""
        mu, log_var = zip(*(q(x) for q in self.q_z))
        return torch.stack(mu), torch.stack(log_var)

    def decode_all(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits of latents (K, N, d), each through its own decoder: (K, N, P)."""
        return torch.stack([g(zi) for g, zi in zip(self.g_s, z)])

    def elbo(self, x: torch.Tensor, i: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Eq. 6's bracket for cluster ``i`` alone, one sample: (N,)."""
        mu, log_var = self.q_z[i](x)
        z = reparameterise(mu, log_var, generator)
        return elbo_per_cluster(x, mu[None], log_var[None], self.g_s[i](z)[None])[:, 0]

    def elbos(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Eq. 6's bracket for every cluster, one sample each: (N, K)."""
        mu, log_var = self.posteriors(x)
        return elbo_per_cluster(x, mu, log_var, self.decode_all(reparameterise(mu, log_var, generator)))

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 8 scores: (N, K)."""
        mu, log_var = self.posteriors(x)
        return hard_assignment_scores(x, mu, log_var, self.decode_all(mu))

    @torch.no_grad()
    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 8: (N,) int64."""
        return self.scores(x).argmax(dim=1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Each image decoded from ``mu_i(x)`` of its own cluster: (N, P) in [0, 1]."""
        mu, log_var = self.posteriors(x)
        logits = self.decode_all(mu)
        best = hard_assignment_scores(x, mu, log_var, logits).argmax(dim=1)
        return torch.sigmoid(logits[best, torch.arange(len(x), device=x.device)])


def initial_clusters(data: Dataset, cfg: KDVAEConfig, epochs: int, progress: bool,
                     teachers: TeacherSource) -> tuple[np.ndarray, list[dict]]:
    """Train VaDE (its recipe, ``epochs`` ELBO epochs) and run K-means on its latent: (N,) cluster of each image."""
    vade_cfg = VaDEConfig(clusters=cfg.clusters, epochs=epochs, seed=cfg.seed, latent=cfg.latent,
                          hidden=list(cfg.vade_hidden), pretraining=cfg.pretraining,
                          **({"batch_size": cfg.batch_size} if cfg.batch_size else {}))
    vade, history = train_vade(data, vade_cfg, progress, teachers)
    z = in_chunks(vade.encode, data.x_train)
    return fit_latent_mixture(z, "kmeans", cfg.clusters, cfg.seed)[0].predict(z), history


def architecture(cfg: KDVAEConfig, data: Dataset) -> dict:
    return {"n_pixels": data.n_pixels, "clusters": cfg.clusters, "latent": cfg.latent, "hidden": list(cfg.hidden)}


def train(data: Dataset, cfg: KDVAEConfig, progress: bool = True,
          teachers: TeacherSource | None = None) -> tuple[KVAEs, list[dict]]:
    """VaDE + K-means for the initial clusters, each VAE on its own cluster, then eq. 6 jointly."""
    n_vade, n_init, n_joint = split_epochs(cfg.epochs, cfg.phase_fractions)
    initial, history = initial_clusters(data, cfg, n_vade, progress, teachers or TeacherSource())
    initial = torch.from_numpy(initial).to(current_device())
    for row in history:
        row["phase"] = "kdvae init: " + row["phase"]

    gen = seeded_generator(cfg.seed + 1)  # a fresh stream: VaDE consumed the first one
    model = KVAEs(data.n_pixels, cfg.clusters, cfg.latent, cfg.hidden).to(current_device())
    x = torch.from_numpy(data.x_train).to(current_device())
    batch_size = batch_size_for(len(x), cfg.batch_size)

    def own_cluster_step(xb, idx):
        labels = initial[idx]
        total = sum(model.elbo(xb[labels == i], i, gen).sum() for i in range(cfg.clusters) if (labels == i).any())
        return {"loss": -total / len(xb)}

    history += train_epochs(own_cluster_step, model.parameters(), x, n_init, gen=gen, batch_size=batch_size,
                            lr=cfg.lr, phase="kdvae per-cluster init", progress=progress, first_epoch=len(history))

    def joint_step(xb, _idx):
        return {"loss": -model.elbos(xb, gen).max(dim=1).values.mean()}   # eq. 6

    history += train_epochs(joint_step, model.parameters(), x, n_joint, gen=gen, batch_size=batch_size, lr=cfg.lr,
                            phase="kdvae joint", progress=progress, first_epoch=len(history))
    return model.eval(), with_cluster_sizes(history, model, data.x_train, cfg.clusters)


def protocol_notes(cfg: KDVAEConfig, data: Dataset) -> list[str]:
    """Where this run's recipe differs from the paper's (VaDE's recipe for the initialisation)."""
    n_vade, n_init, n_joint = split_epochs(cfg.epochs, cfg.phase_fractions)
    vade_notes = [n for n in vade_protocol_notes(VaDEConfig(epochs=n_vade, pretraining=cfg.pretraining), data)
                  if "batch size" not in n]
    return [*(f"VaDE initialisation: {n}" for n in vade_notes),
            f"per-cluster and joint phases: {n_init} + {n_joint} epochs (ours: the paper states none)"]


save = save_weights  # the method interface's save(state, run_dir)


def load(run_dir: Path) -> KVAEs:
    m = read_config(run_dir)["model"]
    return load_weights(KVAEs(m["n_pixels"], m["clusters"], m["latent"], m["hidden"]), run_dir)


evaluate = evaluate_by_reconstruction  # the method interface's evaluate(state, data)
