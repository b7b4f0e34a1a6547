"""Pre-train the teacher's dense autoencoder on reconstruction until its loss flattens.

It trains through the one training loop (:func:`bitcluster.training.loop.train_epochs`), which
stops it when :class:`~.stopping.PlateauRule` says the loss has flattened (or at the rule's cap).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch.nn import functional as F

from bitcluster.training.device import current_device, module_device
from bitcluster.training.loop import batch_size_for, seeded_generator, train_epochs
from bitcluster.training.nets.autoencoders import DenseAutoencoder
from bitcluster.training.precision import in_float32
from bitcluster.training.teacher.config import TeacherConfig
from bitcluster.training.teacher.stopping import PlateauRule


def build_autoencoder(n_pixels: int, config: TeacherConfig) -> DenseAutoencoder:
    """The untrained ``P-hidden-latent`` autoencoder of ``config``."""
    return DenseAutoencoder(n_pixels, latent=config.latent, hidden=list(config.hidden))


def train_autoencoder(x: np.ndarray, config: TeacherConfig, seed: int, *, progress: bool = True,
                      rule: PlateauRule | None = None) -> tuple[DenseAutoencoder, dict]:
    """Train on the Bernoulli reconstruction loss (BCE summed over pixels) until ``rule`` stops it.

    The forward pass runs in ``config.precision`` (the loss in float32), whatever the run's.

    Parameters
    ----------
    x : (N, P) float32 images in [0, 1]
    rule : default ``config.plateau_rule(N)``

    Returns
    -------
    the trained autoencoder (eval mode) and a record: ``losses`` (per epoch, mean per image),
    ``epochs``, ``steps``, ``batch_size``, ``stop_reason``, ``seconds``
    """
    gen = seeded_generator(seed)  # weight initialisation, then batch order
    rule = rule or config.plateau_rule(len(x))
    batch_size = batch_size_for(len(x), config.batch_size)
    model = build_autoencoder(x.shape[1], config).to(current_device())
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(current_device())

    def step(xb: torch.Tensor, _idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": reconstruction_loss(model(xb)["x_logits"], xb)}

    t0 = time.perf_counter()
    model.train()
    rows = train_epochs(step, model.parameters(), xt, rule.max_epochs, gen=gen, batch_size=batch_size,
                        lr=config.learning_rate, phase="autoencoder", progress=progress, precision=config.precision,
                        stop=lambda history: rule.stop_reason([row["loss"] for row in history]))
    model.eval()
    return model, {"losses": [row["loss"] for row in rows], "epochs": len(rows),
                   "steps": len(rows) * math.ceil(len(xt) / batch_size), "batch_size": batch_size,
                   "stop_reason": rows[-1]["stop_reason"], "window_epochs": rule.window,
                   "max_epochs": rule.max_epochs, "seconds": time.perf_counter() - t0}


@in_float32
def reconstruction_loss(x_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli ``-log p(x | logits)`` summed over pixels, mean over the batch: a float32 scalar."""
    return F.binary_cross_entropy_with_logits(x_logits, x, reduction="sum") / len(x)


@torch.no_grad()
def embed(model: DenseAutoencoder, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """The latent (N, latent) float32 of images (N, P), computed in chunks to bound memory."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(module_device(model))
    return torch.cat([model.encode(part) for part in xt.split(chunk)]).cpu().numpy()
