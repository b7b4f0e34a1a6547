"""The one training loop: seeding, minibatches, Adam over epochs, per-epoch history, progress bar, stopping.

Each step's forward pass runs in the run's precision (:mod:`bitcluster.training.precision`:
bfloat16 autocast for ``bf16``); the backward pass, Adam and its float32 state run outside it.

Every method, and the teacher's autoencoder, trains through :func:`train_epochs`; what differs
is the ``step`` (the loss of one minibatch), the hooks that run before and after each epoch (a
temperature schedule, pseudo-labels, an EM refit of a prior) and when to stop (a fixed number of
epochs, or a rule on the losses so far).
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from bitcluster.training.device import current_precision, module_device
from bitcluster.training.precision import autocast

# step(xb, idx) -> {"loss": scalar to minimise (per-sample mean), anything else to log}
Step = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
# rate of Adam at an epoch
Rate = Callable[[int], float]


def seeded_generator(seed: int) -> torch.Generator:
    """Seed torch's global generator (weight initialisation) and return one for batches and noise."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def batch_size_for(n: int, requested: int | None = None) -> int:
    """``requested``, else 256, or smaller for small data so that an epoch has at least 20 steps."""
    return requested or max(16, min(256, n // 20))


def split_epochs(total: int, fractions: list[float]) -> list[int]:
    """Split ``total`` epochs into phases: every phase but the last gets ``round(f * total)``."""
    parts = [int(round(f * total)) for f in fractions[:-1]]
    parts.append(max(0, total - sum(parts)))
    return parts


def minibatches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Indices of a fresh random permutation of ``range(n)``, ``batch_size`` at a time."""
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


def train_epochs(step: Step, params: Iterable[torch.nn.Parameter], x: torch.Tensor, epochs: int, *,
                 gen: torch.Generator, batch_size: int, lr: float | Rate, phase: str, progress: bool,
                 first_epoch: int = 0, warmup_steps: int = 0, precision: str | None = None,
                 before_epoch: Callable[[int], None] | None = None,
                 after_epoch: Callable[[int, dict], None] | None = None,
                 stop: Callable[[list[dict]], str | None] | None = None) -> list[dict]:
    """Adam over shuffled minibatches of ``x`` (N, P) for up to ``epochs`` epochs; one Adam for all of them.

    Parameters
    ----------
    step : the loss of one minibatch ``xb`` (B, P) with indices ``idx`` (B,) into ``x``
    lr : a rate, or a function of the epoch (counted from 0 here); with ``warmup_steps`` it ramps
        up linearly over that many first steps
    before_epoch : called with the epoch before its first batch (schedules, pseudo-labels)
    after_epoch : called with the epoch and its history row after the last batch; may add to the row
    stop : called with the history so far after each epoch; a reason (str) ends training there and
        is kept in that epoch's row as ``stop_reason``
    precision : ``fp32`` or ``bf16``, what ``step`` runs in (None: the run's,
        :func:`~bitcluster.training.device.current_precision`); a ``step`` computes its loss terms
        in float32 through :func:`~bitcluster.training.precision.in_float32`

    Returns
    -------
    One history row per epoch: ``epoch`` (counted from ``first_epoch``), ``phase``, ``lr``,
    ``seconds`` and the per-sample mean of every term ``step`` returned.
    """
    rate = lr if callable(lr) else (lambda _epoch: lr)
    precision = precision or current_precision()
    opt = torch.optim.Adam(params, lr=rate(0))
    rows: list[dict] = []
    n_steps = 0
    # With a stop rule, ``epochs`` is only a cap that the rule usually ends far sooner: an ETA to it would lie.
    bar = tqdm(range(epochs), desc=phase, disable=not progress, unit="epoch",
               bar_format=None if stop is None else "{desc}: {n_fmt} epochs (at most {total_fmt}) "
                                                     "[{elapsed}, {rate_fmt}{postfix}]")
    for epoch in bar:
        t0 = time.perf_counter()
        if before_epoch is not None:
            before_epoch(epoch)
        sums: dict[str, float] = {}
        for idx in minibatches(len(x), batch_size, gen):
            idx = idx.to(x.device)  # drawn on the CPU generator, used where the data lives
            n_steps += 1
            for group in opt.param_groups:
                group["lr"] = rate(epoch) * min(1.0, n_steps / warmup_steps if warmup_steps else 1.0)
            with autocast(precision, x.device):
                terms = step(x[idx], idx)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
        row = {"epoch": first_epoch + epoch, "phase": phase, "lr": rate(epoch),
               **{k: v / len(x) for k, v in sums.items()}}
        if after_epoch is not None:
            after_epoch(epoch, row)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        bar.set_postfix(loss=f"{row['loss']:.2f}")
        reason = stop(rows) if stop is not None else None
        if reason is not None:
            row["stop_reason"] = reason
            break
    return rows


@torch.no_grad()
def in_chunks(fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, size: int = 2048) -> np.ndarray:
    """``fn`` applied to float32 rows of ``x`` in chunks, concatenated back to numpy.

    Each chunk goes to the device of the module ``fn`` is a method of (the CPU for anything else).
    """
    device = module_device(fn)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return torch.cat([fn(b.to(device)).cpu() for b in xt.split(size)]).numpy()
