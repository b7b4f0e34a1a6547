"""``ae-kmeans``, ``ae-gmm``, ``convae-kmeans``, ``convae-gmm``: an autoencoder, then K-means or a GMM on its latent.

Bhattarai's recipe: pre-train the autoencoder ("until we get a good representation of input":
50 epochs on MNIST, mean squared error), then cluster the 10-d latent of the training images (EM
for 100 iterations for the GMM, full covariances here). The test images are clustered by the
fitted mixture.

The dense variants start, by default (``pretraining="shared"``), from the teacher's
``P-500-500-2000-10`` autoencoder (:mod:`~bitcluster.training.methods.shared_pretraining`):
Bhattarai's network, trained until its loss flattens rather than for a fixed 50 epochs, on the
Bernoulli loss rather than the squared error (both stated in ``protocol_notes``).
``pretraining="own"`` trains it in the run for ``epochs`` epochs with ``loss``. The conv variants
keep their own convolutional autoencoder, which the shared stage does not train; it reads grey
images as one plane and RGB images as three.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from bitcluster.core.channels import GREY
from bitcluster.core.mixture import GaussianMixtureParams
from bitcluster.data import Dataset
from bitcluster.training.quantiser import UniformQuantiser, bits_per_dim_for
from bitcluster.training.latent_mixtures import fit_latent_mixture, load_latent_head, save_latent_head
from bitcluster.training.device import current_device
from bitcluster.training.loop import batch_size_for, in_chunks, seeded_generator
from bitcluster.training.methods.scoring import evaluate_latent_clustering, metrics_at_rate
from bitcluster.training.methods.shared_pretraining import check_pretraining, shared_autoencoder
from bitcluster.training.nets.autoencoders import (CONV_CHANNELS, DENSE_HIDDEN, Autoencoder, ConvAutoencoder,
                                                   DenseAutoencoder, pretrain_autoencoder)
from bitcluster.training.runs import HISTORY, read_config
from bitcluster.training.teacher import TeacherSource
from bitcluster.training.weights import load_weights, save_weights

VARIANTS = ("ae-kmeans", "ae-gmm", "convae-kmeans", "convae-gmm")


@dataclass
class AEClusteringConfig:
    """Options of the four variants; each variant is a subclass that fixes its network and clusterer."""

    method: ClassVar[str] = "ae-kmeans"
    architecture: ClassVar[str] = "dense"
    clusterer: ClassVar[str] = "kmeans"
    bits: int = 32                 # budget of the exported quantised latent: bits // latent per dimension
    clusters: int = 10
    pretraining: str = "shared"    # "shared": the teacher's autoencoder; "own": trained here
    epochs: int = 50               # pretraining="own": autoencoder epochs (Bhattarai: 50)
    seed: int = 0
    latent: int = 10
    hidden: list[int] = field(default_factory=lambda: list(DENSE_HIDDEN))
    channels: list[int] = field(default_factory=lambda: list(CONV_CHANNELS))
    lr: float = 1e-3
    batch_size: int | None = None
    loss: str = "mse"              # reconstruction loss (Bhattarai: MSE); the conv variants use "bce"
    quantiser_tail: float = 0.001  # the quantiser's range: these quantiles of the training latents
    autoencoder_from: str | None = None  # a run of the other clusterer whose trained autoencoder to reuse


@dataclass
class AEKMeansConfig(AEClusteringConfig):
    method: ClassVar[str] = "ae-kmeans"
    restarts: int = 10             # K-means n_init; the lowest inertia wins


@dataclass
class AEGMMConfig(AEClusteringConfig):
    method: ClassVar[str] = "ae-gmm"
    clusterer: ClassVar[str] = "gmm"
    covariance: str = "full"
    restarts: int = 1              # GMM n_init; the highest likelihood wins


# MSE through the output sigmoid can freeze the conv autoencoder at an all-black image from the
# first epoch (loss stuck at sum(x^2), the sigmoid saturated, no gradient); BCE on the same
# logits keeps a gradient of sigmoid - x.
@dataclass
class _ConvRecipe:
    """What the convolutional variants change: their own conv autoencoder, BCE."""

    architecture: ClassVar[str] = "conv"
    pretraining: str = "own"
    loss: str = "bce"


@dataclass
class ConvAEKMeansConfig(_ConvRecipe, AEKMeansConfig):
    method: ClassVar[str] = "convae-kmeans"


@dataclass
class ConvAEGMMConfig(_ConvRecipe, AEGMMConfig):
    method: ClassVar[str] = "convae-gmm"


@dataclass
class AutoencoderClustering:
    """A trained autoencoder and the mixture fitted on its latent."""

    autoencoder: DenseAutoencoder | ConvAutoencoder
    mixture: GaussianMixtureParams
    quantiser: UniformQuantiser
    bits_per_dim: int

    def latent(self, x):
        """Latents (N, d) of images (N, P), as numpy."""
        return in_chunks(self.autoencoder.encode, x)


def build_autoencoder(model: dict) -> DenseAutoencoder | ConvAutoencoder:
    """The (untrained) network described by a run's ``config["model"]``."""
    if model["architecture"] == "dense":
        return DenseAutoencoder(model["n_pixels"], model["latent"], model["hidden"])
    return ConvAutoencoder(model["height"], model["width"], model["latent"], model["channels"],
                           image_channels=conv_image_channels(model))


def conv_image_channels(model: dict) -> int:
    """The image channels (1 grey, 3 RGB) a conv run's network reads.

    Conv runs written before colour record none: they trained on grey images only.
    """
    return int(model.get("image_channels", GREY))


def architecture(cfg: AEClusteringConfig, data: Dataset) -> dict:
    """``config.json["model"]``: ``channels`` are the conv layers' widths; ``image_channels`` (conv only) the
    images' channels. A dense network needs no more than ``n_pixels``, which counts the channels already."""
    p = data.preprocessing
    model = {"architecture": cfg.architecture, "clusterer": cfg.clusterer, "clusters": cfg.clusters,
             "latent": cfg.latent, "n_pixels": data.n_pixels, "height": p.height, "width": p.width,
             "hidden": cfg.hidden, "channels": cfg.channels, "bits_per_dim": bits_per_dim_for(cfg.bits, cfg.latent)}
    if cfg.architecture == "conv":
        model["image_channels"] = p.channels
    return model


def train(data: Dataset, cfg: AEClusteringConfig, progress: bool = True,
          teachers: TeacherSource | None = None) -> tuple[AutoencoderClustering, list[dict]]:
    """Pre-train the autoencoder (or take the teacher's, or reuse another run's), then fit the mixture on its latents."""
    check_pretraining(cfg.pretraining)
    if cfg.pretraining == "shared" and cfg.architecture != "dense":
        raise ValueError(f"{cfg.method} trains its own convolutional autoencoder: use pretraining='own'")
    model = architecture(cfg, data)
    shared = None
    if cfg.pretraining == "shared" and not cfg.autoencoder_from:
        shared = shared_autoencoder(teachers or TeacherSource(), data, cfg.clusters, cfg.seed, cfg.latent, cfg.hidden, progress)
    gen = seeded_generator(cfg.seed)
    if cfg.autoencoder_from:
        ae, history = reuse_autoencoder(Path(cfg.autoencoder_from), model, cfg)
        ae.to(current_device())
    elif shared is not None:
        ae, history = shared
        ae.to(current_device())
    else:
        ae = build_autoencoder(model).to(current_device())
        x = torch.from_numpy(data.x_train).to(current_device())
        history = pretrain_autoencoder(ae, x, cfg.epochs, gen=gen, batch_size=batch_size_for(len(x), cfg.batch_size),
                                       lr=cfg.lr, loss=cfg.loss, progress=progress,
                                       phase=f"{cfg.method} autoencoder")
    ae.eval()
    z = in_chunks(ae.encode, data.x_train)
    extra = {"covariance": cfg.covariance} if isinstance(cfg, AEGMMConfig) else {}
    mixture, info = fit_latent_mixture(z, cfg.clusterer, cfg.clusters, cfg.seed, restarts=cfg.restarts, **extra)
    if history:
        history[-1]["latent_fit"] = info
    state = AutoencoderClustering(ae, mixture, UniformQuantiser.fit(z, cfg.quantiser_tail), model["bits_per_dim"])
    return state, history


def protocol_notes(cfg: AEClusteringConfig, data: Dataset) -> list[str]:
    """Where this run's recipe differs from Bhattarai's (empty when it does not)."""
    if cfg.autoencoder_from:
        return [f"autoencoder reused from {cfg.autoencoder_from}"]
    if cfg.pretraining == "shared":
        return ["autoencoder: the shared representation stage's, trained on the Bernoulli loss until its loss "
                "flattens (Bhattarai: squared error, 50 epochs)"]
    notes = [] if cfg.epochs == 50 else [f"autoencoder trained {cfg.epochs} epochs (Bhattarai: 50)"]
    if cfg.loss != "mse":
        notes.append(f"autoencoder trained on the {cfg.loss} loss (Bhattarai: squared error)")
    return notes


def reuse_autoencoder(run_dir: Path, model: dict, cfg: AEClusteringConfig) -> tuple[Autoencoder, list[dict]]:
    """The autoencoder (and its training history) of another run of the same network and recipe.

    K-means and the GMM in Bhattarai's comparison cluster the latent of one autoencoder; this lets
    the second clusterer reuse the first one's instead of training an identical network again.
    """
    other = read_config(run_dir)
    theirs, ours = dict(other.get("model", {})), dict(model)
    for d in (theirs, ours):
        d.pop("clusterer", None)
        if d.get("architecture") == "conv":
            d["image_channels"] = conv_image_channels(d)
    keys = ("pretraining", "seed") if cfg.pretraining == "shared" else ("pretraining", "epochs", "seed", "lr",
                                                                         "batch_size", "loss")
    same_training = {k: other.get("train", {}).get(k, "own" if k == "pretraining" else None) for k in keys}
    wanted = {k: getattr(cfg, k) for k in same_training}
    if other.get("method") not in VARIANTS or theirs != ours or same_training != wanted:
        raise ValueError(f"{run_dir} does not hold the same autoencoder: model {theirs} trained with {same_training}, "
                         f"but this run asks for {ours} trained with {wanted}")
    history = json.loads((run_dir / HISTORY).read_text())
    return load_weights(build_autoencoder(model), run_dir), [{**row, "reused_from": str(run_dir)} for row in history]


def save(state: AutoencoderClustering, run_dir: Path) -> None:
    save_weights(state.autoencoder, run_dir)
    save_latent_head(run_dir, state.mixture, state.quantiser)


def load(run_dir: Path) -> AutoencoderClustering:
    model = read_config(run_dir)["model"]
    ae = load_weights(build_autoencoder(model), run_dir)
    mixture, quantiser = load_latent_head(run_dir)
    return AutoencoderClustering(ae, mixture, quantiser, model["bits_per_dim"])


def evaluate(state: AutoencoderClustering, data: Dataset) -> dict:
    z = state.latent(data.x_test)
    return evaluate_latent_clustering(data, z, state.mixture.predict(z), state.mixture, state.quantiser,
                                      state.bits_per_dim, lambda zz: in_chunks(state.autoencoder.decode, zz))


def evaluate_at_rate(state: AutoencoderClustering, data: Dataset, bits: int) -> dict:
    """Test metrics with the latent sent in exactly ``bits`` bits per image (the sweep's equal-rate point)."""
    return metrics_at_rate(data, state.latent(data.x_test), state.mixture, state.quantiser, bits,
                           lambda zz: in_chunks(state.autoencoder.decode, zz))
