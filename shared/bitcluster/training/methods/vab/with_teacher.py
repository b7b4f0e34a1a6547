"""``vab``: VAB trained with pre-training and unsupervised pseudo-labels (ours, the default).

The same model and the same ELBO as the paper (eq. 10-17, :mod:`.loss`),
trained in three phases under one Adam:

1. pre-train the binary autoencoder (reconstruction, straight-through codes);
2. take soft pseudo-labels and initialise the BMM from the codes of each pseudo-cluster;
3. train everything jointly on the ELBO plus a cross-entropy that pulls the BMM posterior of
   the sampled codes towards the pseudo-labels.

Where the pseudo-labels come from (``teacher``):

* ``"shared"`` (the default): the teacher of :mod:`bitcluster.training.teacher`, a continuous
  deep autoencoder + UMAP + GMM built once per (data, K, seed, teacher config) and cached. It
  does not depend on the code length, so every code length learns against the same strong
  teacher, and a run at a new length reuses it. The run's :class:`TeacherSource` says how it is
  built and where it is cached.
* ``"own"``: UMAP + GMM on this run's own pre-trained encoder
  (:mod:`bitcluster.training.teacher.own_features`), recomputed ``teacher_rounds`` times
  (self-training). Weaker at short codes, where the binary encoder's features are poor; kept to
  reproduce earlier results.

A code trained this way is a code the BMM can read, which a plain ELBO does not ask for. In all
three phases a small L2 pull on the code logits keeps them out of saturation, where the concrete
sample passes no gradient and the code can freeze into a constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from bitcluster.data import Dataset
from bitcluster.training.loop import train_epochs
from bitcluster.training.methods.vab.state import architecture, evaluate, load, save
from bitcluster.training.methods.vab.training import (codes, elbo_loss_terms, features, init_bmm_from_responsibilities,
                                                      reconstruction_terms, set_up)
from bitcluster.training.nets.vab import VAB
from bitcluster.training.schedule import paper_learning_rate, temperature
from bitcluster.training.teacher import TeacherSource
from bitcluster.training.teacher.own_features import own_feature_pseudo_labels

# The method interface (:class:`bitcluster.training.methods.MethodModule`); a run's state is
# the same for both recipes, so architecture, save, load and evaluate are :mod:`.state`'s.
__all__ = ["VABTeacherConfig", "architecture", "evaluate", "load", "save", "train"]


TEACHERS = ("shared", "own")


@dataclass
class VABTeacherConfig:
    bits: int = 32
    clusters: int = 10
    epochs: int = 30                    # in all, pre-training included
    seed: int = 0
    batch_size: int | None = None       # default: 256, smaller for small data (>= 20 steps an epoch)
    hidden: list[int] = field(default_factory=lambda: [512, 256])
    pretrain_epochs: int | None = None  # default: 40% of the epochs
    cluster_weight: float = 100.0       # weight of the pseudo-label cross-entropy
    teacher: str = "shared"             # "shared": the cached teacher; "own": this run's features
    teacher_rounds: int = 2             # teacher="own": pseudo-labels are recomputed this many times
    logit_penalty: float = 1e-3         # weight of mean(sum logit^2), keeps the code alive


def phase_epochs(cfg: VABTeacherConfig) -> tuple[int, set[int]]:
    """Epochs of pre-training, and the epochs that start with a new round of pseudo-labels."""
    pretrain = cfg.pretrain_epochs if cfg.pretrain_epochs is not None else max(1, int(0.4 * cfg.epochs))
    pretrain = min(pretrain, cfg.epochs - 1) if cfg.epochs > 1 else 0
    joint = cfg.epochs - pretrain
    rounds = max(1, min(cfg.teacher_rounds if cfg.teacher == "own" else 1, joint))
    return pretrain, {pretrain + (joint * r) // rounds for r in range(rounds)}


def train(data: Dataset, cfg: VABTeacherConfig, progress: bool = True,
          teachers: TeacherSource | None = None) -> tuple[VAB, list[dict]]:
    """Train on ``data.x_train`` (labels are never read). Returns the model and per-epoch history.

    ``teachers``: how the shared teacher is built and cached (default: the default config and cache).
    """
    if cfg.teacher not in TEACHERS:
        raise ValueError(f"unknown teacher {cfg.teacher!r}; choose one of {', '.join(TEACHERS)}")
    shared = None
    if cfg.teacher == "shared":
        # Built (or read from the cache) before the model is seeded, so that a cache hit and a
        # fresh build leave the same random state behind.
        teacher = (teachers or TeacherSource()).teacher(data, cfg.clusters, cfg.seed, progress=progress)
        shared = teacher.responsibilities
    run = set_up(data, cfg.bits, cfg.clusters, cfg.hidden, cfg.seed, cfg.batch_size, cfg.epochs, model_class=VAB)
    model, x = run.model, run.x
    pretrain, teacher_epochs = phase_epochs(cfg)
    now = {"epoch": 0, "tau": temperature(0), "targets": None}

    def before_epoch(epoch: int) -> None:
        now["epoch"], now["tau"] = epoch, temperature(epoch)
        if epoch in teacher_epochs:
            if shared is not None:
                resp = shared
            else:
                threads = torch.get_num_threads()
                resp = own_feature_pseudo_labels(features(model, x), cfg.clusters, cfg.seed)
                # scikit-learn's threadpoolctl resets the OpenMP pool torch shares: keep the caller's setting
                torch.set_num_threads(threads)
            init_bmm_from_responsibilities(model, codes(model, x), resp)
            now["targets"] = torch.from_numpy(resp.astype(np.float32)).to(x.device)

    def step(xb: torch.Tensor, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        out = model(xb, now["tau"], generator=run.gen)
        if now["epoch"] < pretrain:
            terms = reconstruction_terms(model, xb, out)
        else:
            terms, log_q_c = elbo_loss_terms(model, xb, out)
            if now["targets"] is not None:
                terms["pseudo_ce"] = -(now["targets"][idx] * log_q_c).sum(dim=1).mean()
                terms["loss"] = terms["loss"] + cfg.cluster_weight * terms["pseudo_ce"]
        if cfg.logit_penalty:
            # A saturated logit passes no gradient through the concrete sample: once every
            # image's logits sit far on one side the code is constant and stays so (pre-training
            # can get there in its first epoch; tests/training/test_vab_training.py builds that state).
            # This small pull towards 0 is what moves them back; Adam scales it up when it is
            # the only gradient left.
            terms["logit_l2"] = out["logits"].float().pow(2).sum(dim=1).mean()
            terms["loss"] = terms["loss"] + cfg.logit_penalty * terms["logit_l2"]
        return terms

    def after_epoch(epoch: int, row: dict) -> None:
        row.update(tau=now["tau"], phase="pretrain" if epoch < pretrain else "joint")

    history = train_epochs(step, model.parameters(), x, cfg.epochs, gen=run.gen, batch_size=run.batch_size,
                           lr=paper_learning_rate, phase=f"vab {cfg.bits} bits", progress=progress,
                           before_epoch=before_epoch, after_epoch=after_epoch)
    return model, history
