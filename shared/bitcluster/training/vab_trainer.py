"""Training VAB, two recipes.

``paper``: the paper as written. The ELBO of eq. 10-17 is maximised jointly over encoder,
decoder and BMM prior with Gumbel-Softmax samples; after each epoch the BMM is refitted by EM
on sampled codes (the paper's second step, "the classifier is updated by Bernoulli distributed
samples"). Random initialisation, no pre-training.

``teacher`` (the default): the same model and the same ELBO, trained in three phases.
1. pre-train the binary autoencoder (reconstruction, straight-through codes);
2. cluster its features without labels (UMAP + GMM, :mod:`.teacher`) into soft pseudo-labels
   and initialise the BMM from the codes of each pseudo-cluster;
3. train everything jointly on the ELBO plus a cross-entropy that pulls the BMM posterior of
   the sampled codes towards the pseudo-labels.
A code trained this way is a code the BMM can read, which a plain ELBO does not ask for. In all
three phases a small L2 pull on the code logits keeps them out of saturation, where the concrete
sample passes no gradient and the code can freeze into a constant.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from bitcluster.core.bmm import BernoulliMixture, bmm_log_posterior
from bitcluster.data import Dataset
from bitcluster.training.nets.vab import VAB, VABConfig
from bitcluster.training.schedule import paper_learning_rate, temperature
from bitcluster.training.teacher import pseudo_labels
from bitcluster.training.vab_loss import elbo_terms

RECIPES = ("teacher", "paper")


@dataclass
class VABTrainConfig:
    bits: int = 32
    clusters: int = 10
    epochs: int = 30
    recipe: str = "teacher"
    seed: int = 0
    batch_size: int | None = None      # default: 256, smaller for small data (>= 20 steps an epoch)
    hidden: list[int] = field(default_factory=lambda: [512, 256])
    pretrain_epochs: int | None = None  # teacher recipe: default is 40% of the epochs
    cluster_weight: float = 100.0       # teacher recipe: weight of the pseudo-label cross-entropy
    teacher_rounds: int = 2             # teacher recipe: pseudo-labels are recomputed this many times
    em_iterations: int = 10             # paper recipe: EM steps of the per-epoch BMM refit
    logit_penalty: float = 1e-3         # teacher recipe: weight of mean(sum logit^2), keeps the code alive

    def to_dict(self) -> dict:
        return asdict(self)


def _batches(n: int, batch_size: int, gen: torch.Generator):
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


@torch.no_grad()
def _features(model: VAB, x: torch.Tensor) -> np.ndarray:
    """The encoder's last hidden layer: a richer view of the image than the D-bit code."""
    return torch.cat([model.g_a[:-1](xb) for xb in x.split(4096)]).numpy()


@torch.no_grad()
def _codes(model: VAB, x: torch.Tensor) -> np.ndarray:
    return torch.cat([model.encode(xb) for xb in x.split(4096)]).numpy()


@torch.no_grad()
def _sampled_codes(model: VAB, x: torch.Tensor, tau: float, gen: torch.Generator) -> np.ndarray:
    return torch.cat([model(xb, tau, generator=gen)["z"] for xb in x.split(4096)]).numpy()


def _init_bmm_from_responsibilities(model: VAB, codes: np.ndarray, resp: np.ndarray) -> None:
    bmm = BernoulliMixture(model.config.clusters).m_step(codes, resp)
    model.prior.set_parameters(bmm.log_pi_, bmm.means_)


def train_vab(data: Dataset, cfg: VABTrainConfig, progress: bool = True) -> tuple[VAB, list[dict]]:
    """Train on ``data.x_train`` (labels are never read). Returns the model and per-epoch history."""
    if cfg.recipe not in RECIPES:
        raise ValueError(f"unknown VAB recipe {cfg.recipe!r}; choose one of {RECIPES}")
    if cfg.epochs < 1:
        raise ValueError("epochs must be at least 1")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = VAB(VABConfig(data.n_pixels, cfg.bits, cfg.clusters, list(cfg.hidden)))
    x = torch.from_numpy(data.x_train)
    batch_size = cfg.batch_size or max(16, min(256, len(x) // 20))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))

    pretrain, teacher_epochs = 0, set()
    if cfg.recipe == "teacher":
        pretrain = cfg.pretrain_epochs if cfg.pretrain_epochs is not None else max(1, int(0.4 * cfg.epochs))
        pretrain = min(pretrain, cfg.epochs - 1) if cfg.epochs > 1 else 0
        joint = cfg.epochs - pretrain
        rounds = max(1, min(cfg.teacher_rounds, joint))
        # Later rounds cluster the features the earlier rounds shaped (self-training).
        teacher_epochs = {pretrain + (joint * r) // rounds for r in range(rounds)}
    targets: torch.Tensor | None = None
    history: list[dict] = []
    bar = tqdm(range(cfg.epochs), desc=f"vab/{cfg.recipe} {cfg.bits} bits", disable=not progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        if epoch in teacher_epochs:
            bar.set_postfix_str("clustering features (UMAP + GMM)")
            threads = torch.get_num_threads()
            resp = pseudo_labels(_features(model, x), cfg.clusters, cfg.seed)
            # scikit-learn's threadpoolctl resets the OpenMP pool torch shares: keep the caller's setting
            torch.set_num_threads(threads)
            _init_bmm_from_responsibilities(model, _codes(model, x), resp)
            targets = torch.from_numpy(resp.astype(np.float32))
        for group in opt.param_groups:
            group["lr"] = paper_learning_rate(epoch)
        tau = temperature(epoch)
        sums: dict[str, float] = {}
        for idx in _batches(len(x), batch_size, gen):
            xb = x[idx]
            out = model(xb, tau, generator=gen)
            if epoch < pretrain:
                loss = F.binary_cross_entropy_with_logits(out["x_logits"], xb, reduction="sum") / len(xb)
                terms = {"recon": loss}
            else:
                terms = elbo_terms(xb, out, model.prior)
                log_q_c = terms.pop("log_q_c")
                loss = -(terms["A1"] + terms["A2"] + terms["A3"] + terms["A4"])
                if targets is not None:
                    terms["pseudo_ce"] = -(targets[idx] * log_q_c).sum(dim=1).mean()
                    loss = loss + cfg.cluster_weight * terms["pseudo_ce"]
            if cfg.recipe == "teacher" and cfg.logit_penalty:
                # A saturated logit passes no gradient through the concrete sample: once every
                # image's logits sit far on one side (seen on MNIST at 8 bits, seed 1, in the first
                # epoch) the code is constant and stays so. This small pull towards 0 is what moves
                # them back; Adam scales it up when it is the only gradient left.
                terms["logit_l2"] = out["logits"].pow(2).sum(dim=1).mean()
                loss = loss + cfg.logit_penalty * terms["logit_l2"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach()) * len(idx)
        if cfg.recipe == "paper":
            # Step two of the paper: refit the BMM by EM on codes sampled from q(z|x).
            z = _sampled_codes(model, x, tau, gen)
            log_pi, means = model.prior.numpy_parameters()
            bmm = BernoulliMixture(cfg.clusters, max_iter=cfg.em_iterations, seed=cfg.seed + epoch)
            if epoch == 0:
                bmm.fit(z)
            else:
                bmm.fit(z, resp_init=np.exp(bmm_log_posterior(z, log_pi, means)))
            model.prior.set_parameters(bmm.log_pi_, bmm.means_)
        row = {"epoch": epoch, "tau": tau, "lr": paper_learning_rate(epoch),
               "phase": "pretrain" if epoch < pretrain else "joint",
               "seconds": time.perf_counter() - t0, **{k: v / len(x) for k, v in sums.items()}}
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.1f}")
    return model, history
