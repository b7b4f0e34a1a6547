"""What the two VAB recipes' training shares: the set-up, the loss of a minibatch, codes, the BMM (re)fits.

The recipes themselves are :mod:`.with_teacher` (``vab``, ours) and :mod:`.paper` (``vab-paper``,
the paper as written); both train through :func:`bitcluster.training.loop.train_epochs` with Adam
at the paper's learning-rate schedule and the Gumbel-Softmax temperature annealed per epoch
(:mod:`bitcluster.training.schedule`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from bitcluster.core.mixture import BernoulliMixture, estimate_bernoulli_parameters
from bitcluster.data import Dataset
from bitcluster.training.device import current_device
from bitcluster.training.loop import batch_size_for, seeded_generator
from bitcluster.training.nets.vab import VAB, VABConfig
from bitcluster.training.precision import in_float32
from bitcluster.training.methods.vab.loss import elbo_terms


@dataclass
class VABSetup:
    """A freshly initialised model and what its training loop reads."""

    model: VAB
    x: torch.Tensor             # (N, P) training images
    gen: torch.Generator        # minibatches and Gumbel noise
    batch_size: int


def set_up(data: Dataset, bits: int, clusters: int, hidden: list[int], seed: int, batch_size: int | None,
           epochs: int, model_class: type[VAB] = VAB) -> VABSetup:
    """Seed, build the model, choose the batch size (>= 20 steps an epoch on small data)."""
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    gen = seeded_generator(seed)
    model = model_class(VABConfig(data.n_pixels, bits, clusters, list(hidden))).to(current_device())
    x = torch.from_numpy(data.x_train).to(current_device())
    return VABSetup(model, x, gen, batch_size_for(len(x), batch_size))


@in_float32
def reconstruction_terms(model: VAB, xb: torch.Tensor, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pre-training: ``-log p(x | z)`` of the straight-through codes, per image (``recon`` = ``loss``)."""
    recon = F.binary_cross_entropy_with_logits(out["x_logits"], xb, reduction="sum") / len(xb)
    return {"recon": recon, "loss": recon}


def elbo_loss_terms(model: VAB, xb: torch.Tensor,
                    out: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The terms ``A1..A4`` of eq. 14-17 with ``loss`` = the negative ELBO, and ``log q(c|z)`` (B, K)."""
    terms = elbo_terms(xb, out, model.prior)
    log_q_c = terms.pop("log_q_c")
    terms["loss"] = -(terms["A1"] + terms["A2"] + terms["A3"] + terms["A4"])
    return terms, log_q_c


@torch.no_grad()
def features(model: VAB, x: torch.Tensor) -> np.ndarray:
    """The encoder's last hidden layer (N, H): a richer view of the image than the D-bit code."""
    return torch.cat([model.g_a[:-1](xb) for xb in x.split(4096)]).cpu().numpy()


@torch.no_grad()
def codes(model: VAB, x: torch.Tensor) -> np.ndarray:
    """Deterministic codes (N, D) uint8."""
    return torch.cat([model.encode(xb) for xb in x.split(4096)]).cpu().numpy()


@torch.no_grad()
def sampled_codes(model: VAB, x: torch.Tensor, tau: float, gen: torch.Generator) -> np.ndarray:
    """Codes (N, D) sampled from q(z|x) with the hard Gumbel-Softmax at temperature ``tau``."""
    return torch.cat([model(xb, tau, generator=gen)["z"] for xb in x.split(4096)]).cpu().numpy()


def init_bmm_from_responsibilities(model: VAB, codes: np.ndarray, resp: np.ndarray) -> None:
    """Set the BMM prior to the M-step of ``codes`` (N, D) under responsibilities ``resp`` (N, K)."""
    weights, means = estimate_bernoulli_parameters(codes, resp)
    model.prior.set_parameters(np.log(weights), means)


def refit_bmm_by_em(model: VAB, z: np.ndarray, em_iterations: int, random_state: int, from_prior: bool) -> None:
    """Refit the BMM prior by EM on codes ``z`` (N, D); from the current prior when ``from_prior``."""
    log_pi, means = model.prior.numpy_parameters()
    bmm = BernoulliMixture(model.config.clusters, max_iter=em_iterations, random_state=random_state)
    if from_prior:  # EM starts from the current prior: the refit updates it, not restarts it
        bmm.set_params(weights_init=np.exp(log_pi), means_init=means)
    bmm.fit(z)
    model.prior.set_parameters(np.log(bmm.weights_), bmm.means_)
