"""``kdae``: k autoencoders, one per cluster (k-DAE, Opochinsky, Chazan, Gannot and Goldberger, ICASSP 2020).

Each cluster ``i`` owns an autoencoder ``f_i`` (P-500-100-10 and its mirror, as in the k-DVAE
paper's comparison) and an image belongs to the cluster whose autoencoder reconstructs it best:
``y(x) = argmin_i ||x - f_i(x)||^2``. Training, in three phases:

1. pre-train one global autoencoder on all images: by default (``pretraining="shared"``) the
   teacher's ``P-500-500-2000-10`` (:mod:`~bitcluster.training.methods.shared_pretraining`,
   the network of the other methods in the k-DVAE paper's comparison), taken from its cache;
   with ``pretraining="own"`` one of the ``f_i``'s shape, trained in the run;
2. K-means on its latent gives the initial clusters; every ``f_i`` starts as a copy of the global
   autoencoder (``"own"``) or fresh (``"shared"``: the shapes differ) and is trained on its own
   cluster only;
3. joint training on ``sum_x min_i ||x - f_i(x)||^2`` (the hard assignment is recomputed on
   every batch; only the winning autoencoder receives the image's gradient).

The paper's own text is not in our library; the recipe above is the one the k-DVAE paper
summarises ("k-DAE: init from a global AE + k-means"). Not exportable: the decision needs every
autoencoder's reconstruction of the raw image.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from bitcluster.data import Dataset
from bitcluster.training.latent_mixtures import fit_latent_mixture
from bitcluster.training.device import current_device
from bitcluster.training.loop import batch_size_for, in_chunks, seeded_generator, split_epochs, train_epochs
from bitcluster.training.methods.scoring import evaluate_by_reconstruction, with_cluster_sizes
from bitcluster.training.methods.shared_pretraining import shared_autoencoder_if_asked
from bitcluster.training.nets.autoencoders import (DENSE_HIDDEN, DenseAutoencoder, pretrain_autoencoder,
                                                   reconstruction_loss)
from bitcluster.training.runs import read_config
from bitcluster.training.teacher import TeacherSource
from bitcluster.training.weights import load_weights, save_weights


@dataclass
class KDAEConfig:
    clusters: int = 10
    epochs: int = 100                  # in all: global pre-training ("own" only), per-cluster initialisation, joint
    seed: int = 0
    latent: int = 10
    hidden: list[int] = field(default_factory=lambda: [500, 100])
    pretraining: str = "shared"        # "shared": the teacher's autoencoder; "own": trained here
    global_hidden: list[int] = field(default_factory=lambda: list(DENSE_HIDDEN))  # the shared autoencoder's
    phase_fractions: list[float] = field(default_factory=lambda: [0.3, 0.3, 0.4])  # the first is "own"'s
    lr: float = 1e-3
    batch_size: int | None = None


class KAutoencoders(nn.Module):
    """``f_i = g_s_i o g_a_i`` for i = 1..K, as ``autoencoders[i]``."""

    def __init__(self, n_pixels: int, clusters: int, latent: int, hidden: list[int]):
        super().__init__()
        self.autoencoders = nn.ModuleList(DenseAutoencoder(n_pixels, latent, hidden) for _ in range(clusters))

    def reconstruction_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Every autoencoder's pixel logits: (K, N, P)."""
        return torch.stack([ae(x)["x_logits"] for ae in self.autoencoders])

    def reconstruction_errors(self, x: torch.Tensor) -> torch.Tensor:
        """``||x - f_i(x)||^2`` for each image and autoencoder: (N, K)."""
        return squared_errors(x, self.reconstruction_logits(x))

    @torch.no_grad()
    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """``argmin_i ||x - f_i(x)||^2``: (N,) int64."""
        return self.reconstruction_errors(x).argmin(dim=1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Each image by its own cluster's autoencoder: (N, P) in [0, 1]."""
        logits = self.reconstruction_logits(x)
        best = squared_errors(x, logits).argmin(dim=1)
        return torch.sigmoid(logits[best, torch.arange(len(x), device=x.device)])


def squared_errors(x: torch.Tensor, x_logits: torch.Tensor) -> torch.Tensor:
    """``||x - sigmoid(logits_i)||^2`` for images (N, P) and logits (K, N, P): (N, K)."""
    return ((torch.sigmoid(x_logits) - x) ** 2).sum(dim=2).T


def architecture(cfg: KDAEConfig, data: Dataset) -> dict:
    return {"n_pixels": data.n_pixels, "clusters": cfg.clusters, "latent": cfg.latent, "hidden": list(cfg.hidden)}


def train(data: Dataset, cfg: KDAEConfig, progress: bool = True,
          teachers: TeacherSource | None = None) -> tuple[KAutoencoders, list[dict]]:
    """The three phases of the module docstring; labels are never read."""
    # before seeding: a cache hit and a build leave the same random state
    shared = shared_autoencoder_if_asked(cfg.pretraining, teachers or TeacherSource(), data, cfg.clusters, cfg.seed,
                                         cfg.latent, cfg.global_hidden, progress)
    gen = seeded_generator(cfg.seed)
    x = torch.from_numpy(data.x_train).to(current_device())
    batch_size = batch_size_for(len(x), cfg.batch_size)
    fractions = cfg.phase_fractions if shared is None else [0.0, *cfg.phase_fractions[1:]]
    n_global, n_init, n_joint = split_epochs(cfg.epochs, [f / sum(fractions) for f in fractions])

    # 1. a global autoencoder and K-means on its latent
    if shared is not None:
        global_ae, history = shared
        global_ae.to(x.device)
    else:
        global_ae = DenseAutoencoder(data.n_pixels, cfg.latent, cfg.hidden).to(x.device)
        history = pretrain_autoencoder(global_ae, x, n_global, gen=gen, batch_size=batch_size, lr=cfg.lr, loss="mse",
                                       progress=progress, phase="kdae global autoencoder")
    z = in_chunks(global_ae.encode, data.x_train)
    initial = torch.from_numpy(fit_latent_mixture(z, "kmeans", cfg.clusters, cfg.seed)[0].predict(z)).to(x.device)

    # 2. every autoencoder learns its own cluster, starting from the global one when it has the same shape
    model = KAutoencoders(data.n_pixels, cfg.clusters, cfg.latent, cfg.hidden).to(x.device)
    if shared is None:
        for ae in model.autoencoders:
            ae.load_state_dict(copy.deepcopy(global_ae.state_dict()))

    def own_cluster_step(xb, idx):
        labels = initial[idx]
        total = sum(reconstruction_loss(ae(xb[labels == i])["x_logits"], xb[labels == i], "mse").sum()
                    for i, ae in enumerate(model.autoencoders) if (labels == i).any())
        return {"loss": total / len(xb)}

    history += train_epochs(own_cluster_step, model.parameters(), x, n_init, gen=gen, batch_size=batch_size,
                            lr=cfg.lr, phase="kdae per-cluster init", progress=progress, first_epoch=len(history))

    # 3. joint: every image trains the autoencoder that reconstructs it best
    def joint_step(xb, _idx):
        err = model.reconstruction_errors(xb)
        return {"loss": err.min(dim=1).values.mean()}

    history += train_epochs(joint_step, model.parameters(), x, n_joint, gen=gen, batch_size=batch_size, lr=cfg.lr,
                            phase="kdae joint", progress=progress, first_epoch=len(history))
    return model.eval(), with_cluster_sizes(history, model, data.x_train, cfg.clusters)


def protocol_notes(cfg: KDAEConfig, data: Dataset) -> list[str]:
    """How this run's recipe stands to the paper's (which our library does not hold)."""
    first = ("initial clusters: K-means on the shared representation stage's P-500-500-2000-10 autoencoder"
             if cfg.pretraining == "shared" else
             f"initial clusters: K-means on a global autoencoder trained {round(cfg.phase_fractions[0] * cfg.epochs)} "
             "epochs in the run")
    return [first, f"per-cluster and joint phases: {cfg.epochs} epochs split {cfg.phase_fractions[1:]} "
                   "(ours: the k-DVAE paper states none)"]


save = save_weights  # the method interface's save(state, run_dir)


def load(run_dir: Path) -> KAutoencoders:
    m = read_config(run_dir)["model"]
    return load_weights(KAutoencoders(m["n_pixels"], m["clusters"], m["latent"], m["hidden"]), run_dir)


evaluate = evaluate_by_reconstruction  # the method interface's evaluate(state, data)
