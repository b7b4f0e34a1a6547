"""``vab-paper``: VAB trained as the paper writes it.

The ELBO of eq. 10-17 is maximised jointly over encoder, decoder and BMM prior with
Gumbel-Softmax samples; after each epoch the BMM is refitted by EM on sampled codes (the
paper's second step, "the classifier is updated by Bernoulli distributed samples"). Random
initialisation, no pre-training, no pseudo-labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bitcluster.data import Dataset
from bitcluster.training.loop import train_epochs
from bitcluster.training.methods.vab.state import architecture, evaluate, load, save
from bitcluster.training.methods.vab.training import elbo_loss_terms, refit_bmm_by_em, sampled_codes, set_up
from bitcluster.training.nets.vab import VAB
from bitcluster.training.schedule import paper_learning_rate, temperature

# The method interface (:class:`bitcluster.training.methods.MethodModule`); a run's state is
# the same for both recipes, so architecture, save, load and evaluate are :mod:`.state`'s.
__all__ = ["VABPaperConfig", "architecture", "evaluate", "load", "save", "train"]


@dataclass
class VABPaperConfig:
    bits: int = 32
    clusters: int = 10
    epochs: int = 30
    seed: int = 0
    batch_size: int | None = None   # default: 256, smaller for small data (>= 20 steps an epoch)
    hidden: list[int] = field(default_factory=lambda: [512, 256])
    em_iterations: int = 10         # EM steps of the per-epoch BMM refit


def train(data: Dataset, cfg: VABPaperConfig, progress: bool = True) -> tuple[VAB, list[dict]]:
    """Train on ``data.x_train`` (labels are never read). Returns the model and per-epoch history."""
    run = set_up(data, cfg.bits, cfg.clusters, cfg.hidden, cfg.seed, cfg.batch_size, cfg.epochs)
    model = run.model
    now = {"tau": temperature(0)}

    def before_epoch(epoch: int) -> None:
        now["tau"] = temperature(epoch)

    def step(xb: torch.Tensor, _idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return elbo_loss_terms(model, xb, model(xb, now["tau"], generator=run.gen))[0]

    def after_epoch(epoch: int, row: dict) -> None:
        # Step two of the paper: refit the BMM by EM on codes sampled from q(z|x).
        z = sampled_codes(model, run.x, now["tau"], run.gen)
        refit_bmm_by_em(model, z, cfg.em_iterations, random_state=cfg.seed + epoch, from_prior=epoch > 0)
        row.update(tau=now["tau"], phase="joint")

    history = train_epochs(step, model.parameters(), run.x, cfg.epochs, gen=run.gen, batch_size=run.batch_size,
                           lr=paper_learning_rate, phase=f"vab-paper {cfg.bits} bits", progress=progress,
                           before_epoch=before_epoch, after_epoch=after_epoch)
    return model, history
