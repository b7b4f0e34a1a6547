"""Every method's test-split scores: label metrics, VAB's binary code (with its entropy-coded
rate), a continuous latent scored as the quantised code it ships, and clustering by reconstruction.

Metrics are read on ``data.x_test`` / ``data.y_test`` only; labels never reach training.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from bitcluster.core.codes import pack_codes
from bitcluster.core.entropy_coding import encode_codes, ideal_bits
from bitcluster.core.metrics import clustering_metrics, psnr, rate_metrics
from bitcluster.core.mixture import GaussianMixtureParams
from bitcluster.data import Dataset
from bitcluster.training.device import module_device
from bitcluster.training.loop import in_chunks
from bitcluster.training.nets.vab import VAB
from bitcluster.training.quantiser import (UniformQuantiser, allocated_noise_variance, allocated_roundtrip,
                                           bit_allocation, quantised_mixture)


def data_rate_metrics(bits: float, data: Dataset) -> dict[str, float]:
    """:func:`rate_metrics` of ``bits`` per image of ``data`` (per pixel, against its raw 8-bit channels)."""
    p = data.preprocessing
    return rate_metrics(bits, p.height * p.width, p.channels)


def label_metrics(data: Dataset, clusters: np.ndarray, suffix: str = "") -> dict:
    """ACC, NMI, ARI, v-measure on the test split (empty when the data has no labels)."""
    if data.y_test is None:
        return {}
    return {k + suffix: v for k, v in clustering_metrics(data.y_test, clusters).items()}


def evaluate_by_reconstruction(model, data: Dataset) -> dict:
    """Test metrics of a method that clusters by which of its K networks reconstructs best (kdae, kdvae).

    ``model`` has ``assign(x) -> (N,)`` and ``reconstruct(x) -> (N, P)``.
    """
    clusters = in_chunks(model.assign, data.x_test)
    return {"n_test": int(len(data.x_test)), "psnr": psnr(data.x_test, in_chunks(model.reconstruct, data.x_test)),
            "clusters_used": int(len(np.unique(clusters))), **label_metrics(data, clusters)}


def with_cluster_sizes(history: list[dict], model, x_train: np.ndarray, clusters: int) -> list[dict]:
    """``history`` with the training images' cluster sizes (by ``model.assign``) on its last row."""
    if history:
        history[-1]["cluster_sizes"] = np.bincount(in_chunks(model.assign, x_train), minlength=clusters).tolist()
    return history


def evaluate_latent_clustering(data: Dataset, z: np.ndarray, clusters: np.ndarray, mixture: GaussianMixtureParams,
                               quantiser: UniformQuantiser, bits_per_dim: int,
                               decode: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Test metrics of a method that clusters a continuous latent.

    ``clusters`` is the method's own decision on the latents ``z`` (N, d) of the test images; the
    ``*_quantised`` metrics are those of the exported model, which clusters the latent after a
    uniform quantiser of ``bits_per_dim`` bits per dimension (the rate fields describe that code).
    ``decode`` maps latents to pixel means, for the PSNR.
    """
    z_hat = quantiser.roundtrip(z, bits_per_dim)
    clusters_q = quantised_mixture(mixture, quantiser, bits_per_dim).predict(z_hat)
    bits = bits_per_dim * z.shape[1]
    m = {"n_test": int(len(z)), "psnr": psnr(data.x_test, decode(z)), "clusters_used": int(len(np.unique(clusters))),
         "latent_dim": int(z.shape[1]), "bits_per_dim": int(bits_per_dim), **data_rate_metrics(bits, data),
         "psnr_quantised": psnr(data.x_test, decode(z_hat)),
         "agreement_quantised": float(np.mean(clusters_q == clusters))}
    m.update(label_metrics(data, clusters))
    m.update(label_metrics(data, clusters_q, suffix="_quantised"))
    return m


def metrics_at_rate(data: Dataset, z: np.ndarray, mixture: GaussianMixtureParams, quantiser: UniformQuantiser,
                    bits: int, decode: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Test metrics of a latent sent with exactly ``bits`` bits per image (:func:`bit_allocation`).

    The latents ``z`` (N, d) of the test images are quantised, clustered by the mixture widened by
    the quantisation noise, and decoded for the PSNR: the comparison at equal rate of the paper's
    Figure 3. ``acc``, ``nmi``, ``ari`` and ``psnr`` here are those of the quantised code. Up to
    16 bits a dimension (float32 keeps such levels exact); the exported graphs stop at 8.
    """
    allocation = bit_allocation(bits, z.shape[1], max_bits_per_dim=16)
    z_hat = allocated_roundtrip(quantiser, z, allocation)
    clusters = mixture.with_noise(allocated_noise_variance(quantiser, allocation)).predict(z_hat)
    return {"n_test": int(len(z)), "bit_allocation": allocation.tolist(), **data_rate_metrics(int(bits), data),
            "psnr": psnr(data.x_test, decode(z_hat)), "clusters_used": int(len(np.unique(clusters))),
            **label_metrics(data, clusters)}


def prior_model_metrics_at_rate(model, quantiser: UniformQuantiser, data: Dataset, bits: int) -> dict:
    """:func:`metrics_at_rate` for a model with ``encode``, ``decode`` and a Gaussian-mixture ``prior`` (VaDE, vc)."""
    return metrics_at_rate(data, in_chunks(model.encode, data.x_test), model.prior.mixture(), quantiser, bits,
                           lambda zz: in_chunks(model.decode, zz))


@torch.no_grad()
def vab_outputs(model: VAB, x: np.ndarray) -> dict[str, np.ndarray]:
    """Deterministic codes (N, D) uint8, clusters (N,) and reconstructions (N, P) for images (N, P)."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(module_device(model))
    codes = torch.cat([model.encode(b) for b in xt.split(4096)])
    clusters = torch.cat([model.classify(b) for b in codes.split(4096)])
    recon = torch.cat([model.decode(b) for b in codes.split(4096)])
    return {"codes": codes.cpu().numpy(), "clusters": clusters.cpu().numpy(), "reconstruction": recon.cpu().numpy()}


def evaluate_vab(model: VAB, data: Dataset) -> dict:
    """Test-split metrics: ``acc, nmi, ari, v_measure`` (when labels exist), ``psnr``, rate."""
    out = vab_outputs(model, data.x_test)
    bits = model.config.bits
    m = {"n_test": int(len(data.x_test)), "psnr": psnr(data.x_test, out["reconstruction"]),
         **data_rate_metrics(bits, data),
         "clusters_used": int(len(np.unique(out["clusters"]))),
         "dead_bits": int((out["codes"].min(axis=0) == out["codes"].max(axis=0)).sum())}
    m.update(coded_rate(out["codes"], *model.prior.numpy_parameters()))
    m.update(label_metrics(data, out["clusters"]))
    return m


def coded_rate(codes: np.ndarray, log_pi: np.ndarray, means: np.ndarray, batch: int = 1024) -> dict:
    """Mean bits per code of the entropy-coded format, coding batches of ``batch`` codes."""
    packed = pack_codes(codes)
    total = sum(len(encode_codes(packed[i:i + batch], codes.shape[1], log_pi, means)) * 8
                for i in range(0, len(packed), batch))
    return {"coded_bits_mean": total / len(codes), "coded_batch": batch,
            "ideal_bits_mean": float(ideal_bits(codes, log_pi, means).mean())}
