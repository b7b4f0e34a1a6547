"""A run directory -> an exported model directory (:func:`export_run`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from bitcluster.core.atomic import refuse_existing
from bitcluster.core.codes import code_bytes
from bitcluster.core.manifest import ModelManifest
from bitcluster.core.novelty import NoveltyReference
from bitcluster.core.preprocessing import Preprocessing
from bitcluster.training.export.bmm_classifier import bmm_classifier_half
from bitcluster.training.export.halves import VabEncoderHalf
from bitcluster.training.export.quantised_latent_halves import GaussianMixtureClassifierHalf, LatentEncoderHalf
from bitcluster.training.export.latent_networks import check_exportable, latent_network
from bitcluster.training.export.model_dir import write_model_dir
from bitcluster.training.export.novelty import novelty_reference, training_codes
from bitcluster.training.export.onnx_file import classifier_onnx, encoder_onnx
from bitcluster.training.quantiser import check_bits_per_dim, quantised_mixture
from bitcluster.training.latent_mixtures import load_latent_head
from bitcluster.training.runs import METRICS, read_config, read_json

log = logging.getLogger(__name__)


def export_run(run_dir: Path, out: Path, bits_per_dim: int | None = None, *, force: bool = False) -> ModelManifest:
    """Export a run directory to ``out``: VAB as trained, latent methods quantised (``bits_per_dim``).

    An ``out`` that exists and is not empty is refused before any work unless ``force``; the model
    directory appears whole or not at all (:func:`~bitcluster.training.export.model_dir.write_model_dir`).
    """
    from bitcluster.training.methods import get_method

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if not config["method"].startswith("vab"):
        return export_latent_run(run_dir, out, bits_per_dim, force=force)
    refuse_existing(Path(out), force)
    model = get_method(config["method"]).load(run_dir)
    bits, clusters = model.config.bits, model.config.clusters
    log_pi, means = model.prior.numpy_parameters()
    training = {k: config.get(k) for k in ("dataset", "train")}
    encoder, classifier = VabEncoderHalf(model.g_a, bits), bmm_classifier_half(log_pi, means)
    return write_model_dir(
        out, encoder_onnx(encoder, model.config.n_pixels), classifier_onnx(classifier, code_bytes(bits)),
        method=config["method"], bits=bits, clusters=clusters, preprocessing=config["preprocessing"],
        metrics=_metrics(run_dir), training=json.loads(json.dumps(training)),
        entropy_model={"log_pi": log_pi.tolist(), "means": means.tolist()},
        novelty=_training_novelty(run_dir, config, encoder, classifier), force=force)


def export_latent_run(run_dir: Path, out: Path, bits_per_dim: int | None = None, *,
                      force: bool = False) -> ModelManifest:
    """Export a run of ae-*, convae-*, vade or vc to ``out`` with ``bits_per_dim`` bits per latent dimension.

    ``bits_per_dim`` defaults to the run's own (``bits // latent`` of its training options).
    kdae and kdvae are refused: they have no latent code to ship.
    """
    from bitcluster.training.methods import get_method

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    method = config["method"]
    check_exportable(method)
    refuse_existing(Path(out), force)
    state = get_method(method).load(run_dir)
    b = int(bits_per_dim or config["model"]["bits_per_dim"])
    check_bits_per_dim(b)
    mixture, _ = load_latent_head(run_dir)
    quantiser = state.quantiser
    n_pixels = Preprocessing.from_dict(config["preprocessing"]).n_pixels
    d = len(quantiser.low)
    training = {"dataset": config.get("dataset"), "train": config.get("train"), "latent_dim": d,
                "bits_per_dim": b, "quantiser": {"low": quantiser.low.tolist(), "high": quantiser.high.tolist()},
                "code_layout": "level bits MSB-first, dimension after dimension"}
    encoder = LatentEncoderHalf(latent_network(method, state), quantiser, b)
    classifier = GaussianMixtureClassifierHalf(quantised_mixture(mixture, quantiser, b), quantiser, b)
    return write_model_dir(
        out, encoder_onnx(encoder, n_pixels), classifier_onnx(classifier, code_bytes(d * b)),
        method=method, bits=d * b, clusters=mixture.n_components, preprocessing=config["preprocessing"],
        metrics=_metrics(run_dir), training=json.loads(json.dumps(training)),
        novelty=_training_novelty(run_dir, config, encoder, classifier), force=force)


def _training_novelty(run_dir: Path, config: dict, encoder, classifier) -> NoveltyReference | None:
    """The training codes' log-likelihood quantiles, or None (with a warning) when the run's data is gone."""
    from bitcluster.data import DatasetError
    from bitcluster.training.runs import run_dataset

    source = config.get("data_source", config["dataset"])
    try:
        x_train = run_dataset(run_dir, config).x_train  # centred as the run's were
    except (DatasetError, OSError) as e:
        log.warning("exporting without novelty data: the training set %r cannot be read (%s)", source, e)
        return None
    return novelty_reference(classifier, training_codes(encoder, np.asarray(x_train, dtype=np.float32)))


def _metrics(run_dir: Path) -> dict:
    """The run's metrics for the manifest; a teacher's cache path is the training machine's, its key stays."""
    metrics = read_json(run_dir / METRICS) if (run_dir / METRICS).is_file() else {}
    for record in metrics.get("teachers", []):
        record.pop("path", None)
    return metrics
