"""What the two Gaussian-mixture-prior VAEs (VaDE, vc) share: their run state and its files.

Both cluster a continuous latent with a learned mixture prior and ship that latent quantised;
the state is the network plus the quantiser, and the run directory holds the weights and the
latent head (mixture + quantiser range).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from bitcluster.data import Dataset
from bitcluster.training.quantiser import UniformQuantiser, bits_per_dim_for
from bitcluster.training.latent_mixtures import load_latent_head, save_latent_head
from bitcluster.training.methods.scoring import prior_model_metrics_at_rate
from bitcluster.training.runs import read_config
from bitcluster.training.weights import load_weights, save_weights


@dataclass
class PriorLatentState:
    """A trained mixture-prior VAE and the quantiser of the code it ships."""

    model: nn.Module            # has encode, decode, classify and prior.mixture()
    quantiser: UniformQuantiser
    bits_per_dim: int


def prior_latent_architecture(cfg, data: Dataset) -> dict:
    """``config.json["model"]``: what :func:`load_prior_latent` rebuilds the network from."""
    return {"n_pixels": data.n_pixels, "latent": cfg.latent, "clusters": cfg.clusters, "hidden": list(cfg.hidden),
            "bits_per_dim": bits_per_dim_for(cfg.bits, cfg.latent)}


def save_prior_latent(state: PriorLatentState, run_dir: Path) -> None:
    save_weights(state.model, run_dir)
    save_latent_head(run_dir, state.model.prior.mixture(), state.quantiser)


def prior_latent_loader(network: type[nn.Module]) -> Callable[[Path], PriorLatentState]:
    """The method contract's ``load(run_dir)`` for runs of ``network(n_pixels, latent, clusters, hidden)``."""

    def load(run_dir: Path) -> PriorLatentState:
        m = read_config(run_dir)["model"]
        model = load_weights(network(m["n_pixels"], m["latent"], m["clusters"], m["hidden"]), run_dir)
        return PriorLatentState(model, load_latent_head(run_dir)[1], m["bits_per_dim"])

    return load


def evaluate_prior_latent_at_rate(state: PriorLatentState, data: Dataset, bits: int) -> dict:
    """Test metrics with the latent sent in exactly ``bits`` bits per image (the sweep's equal-rate point)."""
    return prior_model_metrics_at_rate(state.model, state.quantiser, data, bits)
