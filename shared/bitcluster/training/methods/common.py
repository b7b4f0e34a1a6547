"""What the baselines share: options, seeding, the minibatch loop, chunked inference, test metrics."""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from bitcluster.data import Dataset
from bitcluster.core.metrics import clustering_metrics, psnr, rate_metrics
from bitcluster.training.runs import WEIGHTS, RunDirError
from bitcluster.training.latent import (GaussianMixtureParams, UniformQuantiser, allocated_noise_variance, allocated_roundtrip,
                     bit_allocation, quantised_mixture)

Step = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


def config_from_options(config_cls, options: dict):
    """The dataclass ``config_cls`` from the options it knows (``None`` means: keep the default)."""
    known = {f.name for f in fields(config_cls)}
    return config_cls(**{k: v for k, v in options.items() if v is not None and k in known})


def seeded_generator(seed: int) -> torch.Generator:
    """Seed torch's global generator (weight initialisation) and return one for batches and noise."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def batch_size_for(n: int, requested: int | None = None) -> int:
    """256, or smaller for small data so that an epoch has at least 20 steps (VAB's rule)."""
    return requested or max(16, min(256, n // 20))


def split_epochs(total: int, fractions: list[float]) -> list[int]:
    """Split ``total`` epochs into phases: every phase but the last gets ``round(f * total)``."""
    parts = [int(round(f * total)) for f in fractions[:-1]]
    parts.append(max(0, total - sum(parts)))
    return parts


def minibatches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


def train_epochs(step: Step, params, x: torch.Tensor, epochs: int, *, gen: torch.Generator, batch_size: int,
                 lr: float | Callable[[int], float], phase: str, progress: bool, first_epoch: int = 0,
                 warmup_steps: int = 0) -> list[dict]:
    """Adam over shuffled minibatches of ``x`` for ``epochs`` epochs.

    ``step(xb, idx)`` returns a dict of scalar tensors with the ``"loss"`` to minimise (per-sample
    mean) and anything else worth logging. ``lr`` is a rate or a function of the epoch; with
    ``warmup_steps`` it ramps up linearly over that many first steps. Returns one history row per
    epoch: the epoch means.
    """
    rate = lr if callable(lr) else (lambda _epoch: lr)
    opt = torch.optim.Adam(params, lr=rate(0))
    rows = []
    n_steps = 0
    bar = tqdm(range(epochs), desc=phase, disable=not progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        sums: dict[str, float] = {}
        for idx in minibatches(len(x), batch_size, gen):
            n_steps += 1
            for group in opt.param_groups:
                group["lr"] = rate(epoch) * min(1.0, n_steps / warmup_steps if warmup_steps else 1.0)
            terms = step(x[idx], idx)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
        row = {"epoch": first_epoch + epoch, "phase": phase, "lr": rate(epoch),
               "seconds": time.perf_counter() - t0, **{k: v / len(x) for k, v in sums.items()}}
        rows.append(row)
        bar.set_postfix(loss=f"{row['loss']:.2f}")
    return rows


@torch.no_grad()
def in_chunks(fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, size: int = 2048) -> np.ndarray:
    """``fn`` applied to float32 rows of ``x`` in chunks, concatenated back to numpy."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return torch.cat([fn(b) for b in xt.split(size)]).numpy()


def save_weights(module: torch.nn.Module, run_dir: Path) -> None:
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(Path(run_dir) / WEIGHTS))


def load_weights(module: torch.nn.Module, run_dir: Path) -> torch.nn.Module:
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise RunDirError(f"{path} is missing: is {path.parent} a bitcluster run directory?")
    module.load_state_dict(load_file(str(path)))
    return module.eval()


def label_metrics(data: Dataset, clusters: np.ndarray, suffix: str = "") -> dict:
    """ACC, NMI, ARI, v-measure on the test split (empty when the data has no labels)."""
    if data.y_test is None:
        return {}
    return {k + suffix: v for k, v in clustering_metrics(data.y_test, clusters).items()}


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
         "latent_dim": int(z.shape[1]), "bits_per_dim": int(bits_per_dim), **rate_metrics(bits, data.n_pixels),
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
    return {"n_test": int(len(z)), "bit_allocation": allocation.tolist(), **rate_metrics(int(bits), data.n_pixels),
            "psnr": psnr(data.x_test, decode(z_hat)), "clusters_used": int(len(np.unique(clusters))),
            **label_metrics(data, clusters)}


def prior_model_metrics_at_rate(model, quantiser: UniformQuantiser, data: Dataset, bits: int) -> dict:
    """:func:`metrics_at_rate` for a model with ``encode``, ``decode`` and a Gaussian-mixture ``prior`` (VaDE, vc)."""
    return metrics_at_rate(data, in_chunks(model.encode, data.x_test), model.prior.mixture(), quantiser, bits,
                           lambda zz: in_chunks(model.decode, zz))
