"""Pre-train the stage's dense autoencoder on reconstruction until its loss flattens."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from bitcluster.training.device import current_device, module_device
from bitcluster.training.nets.autoencoders import DenseAutoencoder
from bitcluster.training.representation.config import TeacherConfig
from bitcluster.training.representation.stopping import PlateauRule


def build_autoencoder(n_pixels: int, config: TeacherConfig) -> DenseAutoencoder:
    """The untrained ``P-hidden-latent`` autoencoder of ``config``."""
    return DenseAutoencoder(n_pixels, latent=config.latent, hidden=list(config.hidden))


def train_autoencoder(x: np.ndarray, config: TeacherConfig, seed: int, *, progress: bool = True,
                      rule: PlateauRule | None = None) -> tuple[DenseAutoencoder, dict]:
    """Train on the Bernoulli reconstruction loss (BCE summed over pixels) until ``rule`` stops it.

    Parameters
    ----------
    x : (N, P) float32 images in [0, 1]
    rule : default ``config.plateau_rule(N)``

    Returns
    -------
    the trained autoencoder (eval mode) and a record: ``losses`` (per epoch, mean per image),
    ``epochs``, ``steps``, ``batch_size``, ``stop_reason``, ``seconds``
    """
    torch.manual_seed(seed)  # weight initialisation
    gen = torch.Generator().manual_seed(seed)  # batch order
    rule = rule or config.plateau_rule(len(x))
    batch_size = config.batch_size_for(len(x))
    model = build_autoencoder(x.shape[1], config).to(current_device())
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(current_device())
    losses: list[float] = []
    steps, reason, t0 = 0, None, time.perf_counter()
    model.train()
    with tqdm(total=rule.max_epochs, desc="autoencoder", unit="epoch", disable=not progress) as bar:
        while reason is None:
            total = 0.0
            for idx in torch.randperm(len(xt), generator=gen).split(batch_size):
                xb = xt[idx.to(xt.device)]  # the order drawn on the CPU generator
                loss = F.binary_cross_entropy_with_logits(model(xb)["x_logits"], xb, reduction="sum") / len(xb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(xb)
                steps += 1
            losses.append(total / len(xt))
            reason = rule.stop_reason(losses)
            gain = rule.relative_gain(losses)
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.2f}", gain="-" if gain is None else f"{gain:.2%}")
    model.eval()
    return model, {"losses": losses, "epochs": len(losses), "steps": steps, "batch_size": batch_size,
                   "stop_reason": reason, "window_epochs": rule.window, "max_epochs": rule.max_epochs,
                   "seconds": time.perf_counter() - t0}


@torch.no_grad()
def embed(model: DenseAutoencoder, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """The latent (N, latent) float32 of images (N, P), computed in chunks to bound memory."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(module_device(model))
    return torch.cat([model.encode(part) for part in xt.split(chunk)]).cpu().numpy()
