"""``vab``: VAB trained with pre-training and unsupervised pseudo-labels (ours, the default).

The same model and the same ELBO as the paper (eq. 10-17, :mod:`.loss`),
trained in three phases under one Adam:

1. pre-train the binary autoencoder (reconstruction, straight-through codes);
2. take soft pseudo-labels and initialise the BMM from the codes of each pseudo-cluster;
3. train everything jointly on the ELBO plus a cross-entropy that pulls the BMM posterior of
   the sampled codes towards the pseudo-labels.

Where the pseudo-labels come from (``teacher``):

* ``"shared"`` (the default): the teacher of :mod:`bitcluster.training.teacher`, UMAP + GMM on
  PCA features of the run's images (centred, where that measurably helps: the run's ``--centring``), or on a deep autoencoder's,
  built once per (data, K, seed, teacher config) and cached. It
  does not depend on the code length, so every code length learns against the same strong
  teacher, and a run at a new length reuses it. The run's :class:`TeacherSource` says how it is
  built and where it is cached.
* ``"own"``: UMAP + GMM on this run's own pre-trained encoder
  (:mod:`bitcluster.training.teacher.own_features`), recomputed ``teacher_rounds`` times
  (self-training). Weaker at short codes, where the binary encoder's features are poor; kept to
  reproduce earlier results.

Several starts (``restarts``): below about two code values per cluster (``2**bits < 2 * clusters``)
clusters must share code cells, and whether two teacher clusters end up merged depends on the
start (the seed). There ``vab`` trains a few starts against the same teacher, each with its own
seed, and keeps the one whose BMM clusters of the training codes agree best with the teacher's
pseudo-labels (:func:`teacher_agreement`); labels are never read.

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
    restarts: int | None = None         # starts trained, the best kept; None: :func:`default_restarts`


# Starts trained where the code is too short for its clusters (see default_restarts).
SHORT_CODE_RESTARTS = 3


def default_restarts(cfg: VABTeacherConfig) -> int:
    """How many starts ``restarts=None`` trains: 3 where clusters must share code values, else 1.

    With fewer than two code values per cluster (``2**bits < 2 * clusters``) the pseudo-label
    pull cannot give each cluster a cell of its own, and whether the BMM merges two clusters
    depends on the start; a longer code has room for every cluster and one start suffices. Only
    the shared teacher is the same for every start, so only it makes starts comparable.
    """
    if cfg.teacher != "shared":
        return 1
    return SHORT_CODE_RESTARTS if 2 ** cfg.bits < 2 * cfg.clusters else 1


def start_seed(seed: int, start: int) -> int:
    """The seed of start ``start``: the run's own seed for the first (one start is today's run)."""
    return seed if start == 0 else int(np.random.SeedSequence([seed, start]).generate_state(1)[0])


def teacher_agreement(model: VAB, x: torch.Tensor, resp: np.ndarray) -> float:
    """NMI between the BMM's clusters of the deterministic training codes and the teacher's.

    The criterion that ranks starts. The failure it guards against is two teacher clusters merged
    into one BMM cluster: NMI with the teacher loses that pair's information outright, while the
    ELBO of a short code barely moves (the merged codes are as likely under one component as under
    two). NMI ignores how clusters are numbered, and reads the teacher, never the labels.
    """
    from sklearn.metrics import normalized_mutual_info_score

    clusters = torch.cat([model.classify(model.encode(xb)) for xb in x.split(4096)]).cpu().numpy()
    return float(normalized_mutual_info_score(resp.argmax(axis=1), clusters))


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
    With several starts the history is the kept start's; its last row holds ``restarts``: each
    start's seed and teacher agreement, and the index of the one kept.
    """
    if cfg.teacher not in TEACHERS:
        raise ValueError(f"unknown teacher {cfg.teacher!r}; choose one of {', '.join(TEACHERS)}")
    restarts = default_restarts(cfg) if cfg.restarts is None else cfg.restarts
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    if restarts > 1 and cfg.teacher != "shared":
        raise ValueError("restarts > 1 needs teacher='shared': starts are ranked by agreement with one teacher")
    shared = None
    if cfg.teacher == "shared":
        # Built (or read from the cache) before the model is seeded, so that a cache hit and a
        # fresh build leave the same random state behind.
        teacher = (teachers or TeacherSource()).teacher(data, cfg.clusters, cfg.seed, progress=progress)
        shared = teacher.responsibilities
    if restarts == 1:
        return train_start(data, cfg, cfg.seed, shared, progress)
    records, trained = [], []
    for start in range(restarts):
        seed = start_seed(cfg.seed, start)
        model, history = train_start(data, cfg, seed, shared, progress,
                                     phase=f"vab {cfg.bits} bits, start {start + 1}/{restarts}")
        x = torch.from_numpy(data.x_train).to(next(model.parameters()).device)
        trained.append((model, history))
        records.append({"start": start, "seed": seed, "agreement": teacher_agreement(model, x, shared)})
    kept = max(records, key=lambda record: record["agreement"])["start"]
    model, history = trained[kept]
    history[-1]["restarts"] = {"criterion": "nmi_with_teacher", "kept": kept, "starts": records}
    return model, history


def train_start(data: Dataset, cfg: VABTeacherConfig, seed: int, shared: np.ndarray | None, progress: bool,
                phase: str | None = None) -> tuple[VAB, list[dict]]:
    """One start: the three phases from ``seed``, against the shared teacher's ``shared`` (N, K) or this run's own."""
    run = set_up(data, cfg.bits, cfg.clusters, cfg.hidden, seed, cfg.batch_size, cfg.epochs, model_class=VAB)
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
                resp = own_feature_pseudo_labels(features(model, x), cfg.clusters, seed)
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
                           lr=paper_learning_rate, phase=phase or f"vab {cfg.bits} bits", progress=progress,
                           before_epoch=before_epoch, after_epoch=after_epoch)
    return model, history
