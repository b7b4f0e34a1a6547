"""Scoring a trained VAB model on the held-out test split."""

from __future__ import annotations

import numpy as np
import torch

from bitcluster.core.codes import pack_codes
from bitcluster.data import Dataset
from bitcluster.core.entropy_coding import encode_codes, ideal_bits
from bitcluster.core.metrics import clustering_metrics, psnr, rate_metrics
from bitcluster.training.device import module_device
from bitcluster.training.nets.vab import VAB


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
         **rate_metrics(bits, data.n_pixels),
         "clusters_used": int(len(np.unique(out["clusters"]))),
         "dead_bits": int((out["codes"].min(axis=0) == out["codes"].max(axis=0)).sum())}
    m.update(coded_rate(out["codes"], *model.prior.numpy_parameters()))
    if data.y_test is not None:
        m.update(clustering_metrics(data.y_test, out["clusters"]))
    return m


def coded_rate(codes: np.ndarray, log_pi: np.ndarray, means: np.ndarray, batch: int = 1024) -> dict:
    """Mean bits per code of the entropy-coded format, coding batches of ``batch`` codes."""
    packed = pack_codes(codes)
    total = sum(len(encode_codes(packed[i:i + batch], codes.shape[1], log_pi, means)) * 8
                for i in range(0, len(packed), batch))
    return {"coded_bits_mean": total / len(codes), "coded_batch": batch,
            "ideal_bits_mean": float(ideal_bits(codes, log_pi, means).mean())}
