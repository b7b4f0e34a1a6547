"""A trained VAB run, whichever recipe made it (``vab``, ``vab-paper``): architecture, save, load, score.

The state is the :class:`~bitcluster.training.nets.vab.VAB` module itself; ``load`` rebuilds it
from ``config.json["model"]`` (a :class:`~bitcluster.training.nets.vab.VABConfig`).
"""

from __future__ import annotations

from pathlib import Path

from bitcluster.data import Dataset
from bitcluster.training.methods.scoring import evaluate_vab
from bitcluster.training.nets.vab import VAB, VABConfig
from bitcluster.training.runs import read_config
from bitcluster.training.weights import load_weights, save_weights


def architecture(cfg, data: Dataset) -> dict:
    """``config.json["model"]`` of a VAB run (``cfg`` has ``bits``, ``clusters``, ``hidden``): its :class:`VABConfig`."""
    return VABConfig(data.n_pixels, cfg.bits, cfg.clusters, list(cfg.hidden)).to_dict()


def save(model: VAB, run_dir: Path) -> None:
    save_weights(model, run_dir)


def load(run_dir: Path) -> VAB:
    cfg = read_config(run_dir)
    return load_weights(VAB(VABConfig(**cfg["model"])), run_dir)


def evaluate(model: VAB, data: Dataset) -> dict:
    return evaluate_vab(model, data)
