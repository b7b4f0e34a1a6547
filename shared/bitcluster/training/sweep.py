"""Rate versus accuracy: train a grid of (method, bits, seed), then plot ACC and PSNR against bpp.

Each setting gets its own run directory under the sweep directory; a setting whose
``metrics.json`` already exists is not trained again, so an interrupted sweep resumes.

A method whose code length is chosen after training (VaDE and the other continuous-latent
methods, declared ``rate_set_after_training``) is trained once per seed and scored at every bit
budget: its latent quantised to exactly that many bits per image, so that it is compared with
VAB at equal rate, as in the paper's Figure 3.

Several processes may work on one sweep directory at once: a setting being trained is claimed
(an exclusive ``flock`` on a file beside its directory) and the others skip it (rerun the sweep
when all are done to collect every run).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path
from typing import Iterator

from bitcluster.core.preprocessing import Preprocessing
from bitcluster.data import Dataset, load_dataset
from bitcluster.training.methods import lookup
from bitcluster.training.pipeline import train_run
from bitcluster.training.runs import METRICS, read_config, write_json


def run_dir_name(method: str, bits: int | None, seed: int) -> str:
    """``vab-b32-s0``; ``vade-s0`` for a method trained once for every rate."""
    return f"{method}-s{seed}" if bits is None else f"{method}-b{bits}-s{seed}"


def rate_set_after_training(method: str) -> bool:
    return lookup(method).rate_set_after_training


def check_sweepable(method: str, options: dict, teacher=None) -> None:
    """Fail before anything trains: a method with no code length to sweep, an option it does not take,
    or a teacher config (``teacher``, not None) for a method that learns from no teacher."""
    spec = lookup(method)
    if teacher is not None and not spec.uses_teacher:
        raise ValueError(f"{method} learns from no teacher: a teacher config does not apply to it")
    if not spec.rate_set_after_training and "bits" not in spec.options():
        raise ValueError(f"{method} has no code length to sweep: it takes no 'bits' and is not scored at a bit "
                         f"budget; its options are: {', '.join(spec.options())}")
    spec.make_config(options if spec.rate_set_after_training else {**options, "bits": 1})


@contextlib.contextmanager
def _claimed(run: Path) -> Iterator[bool]:
    """Hold ``run`` for this process while the block runs: yields False if another process holds it.

    The claim is an exclusive, non-blocking ``flock`` on ``.<run>.claim`` beside the run directory
    (the directory itself is replaced when the run is written). The kernel drops it when its holder
    exits, however it exits: a dead worker's setting is free at once, and two live workers can
    never both hold one.
    """
    run.parent.mkdir(parents=True, exist_ok=True)
    with open(run.parent / f".{run.name}.claim", "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _train_or_read(method: str, data: str | Dataset, run: Path, options: dict, progress: bool,
                   train: bool = True, teacher_cache=None, teacher=None,
                   precision: str = "fp32", centring: str | None = None) -> dict | None:
    """The run's metrics: read back, or trained now; None while another worker trains it (or not ``train``).

    ``data``: the source string when the sweep was given one, so that the run records it
    (``config.json["data_source"]``) and ``evaluate`` finds a folder or an ``.npz`` again.
    """
    if (run / METRICS).is_file():
        return json.loads((run / METRICS).read_text())
    if not train:
        return None
    with _claimed(run) as mine:
        if not mine:
            return None
        if (run / METRICS).is_file():  # another worker finished it between the check and the claim
            return json.loads((run / METRICS).read_text())
        # No metrics.json: what the directory holds (an older, interrupted attempt) is unfinished.
        return train_run(method, data, run, options, progress=progress, force=True,
                         teacher=teacher, teacher_cache=teacher_cache, precision=precision, centring=centring)


def _runs_at_rates(method: str, dataset: Dataset, run: Path, trained: dict, bits: list[int]) -> list[dict]:
    """One record per bit budget for a model trained once (see the module docstring)."""
    from bitcluster.training.teacher.centring import centred_dataset

    impl = lookup(method).module
    state = impl.load(run)
    dataset = centred_dataset(dataset, Preprocessing.from_dict(read_config(run)["preprocessing"]).centre)
    keep = ("dataset", "seed", "clusters", "epochs", "train_seconds", "seconds_per_epoch", "torch_threads")
    continuous = {"acc_continuous": trained.get("acc"), "psnr_continuous": trained.get("psnr")}
    return [{"method": method, **{k: trained.get(k) for k in keep}, **continuous, "run_dir": run.name,
             "rate": "latent quantised to the bit budget", **impl.evaluate_at_rate(state, dataset, b)} for b in bits]


def run_sweep(methods: list[str], bits: list[int], seeds: list[int], data: str | Dataset, out: Path,
              epochs: int | None = None, clusters: int | None = None, progress: bool = True, train: bool = True,
              reference: list[tuple[str, float, float, str]] = (), teacher_cache=None,
              teacher=None, precision: str = "fp32", centring: str | None = None) -> list[dict]:
    """Train every (method, bits, seed) not yet done; return all their metrics.

    ``epochs`` and ``clusters`` are passed on only when given: each method keeps its own defaults.
    ``teacher_cache`` (a :class:`~bitcluster.training.teacher.TeacherCache`): where the runs' teachers are cached;
    ``teacher`` (a :class:`~bitcluster.training.teacher.TeacherConfig`, None: the default): how they are built.
    A source string ``data`` is what every run records, so that ``evaluate`` reads the same data
    again (each run loads it; a :class:`Dataset` is recorded by its name only).
    ``precision``, ``centring``: each run's (:func:`~bitcluster.training.pipeline.train_run`'s).
    With ``train=False`` nothing is trained: the finished settings are collected and plotted.
    ``reference``: published points for the plots (see :func:`plot_rate_curves`).
    """
    options = {k: v for k, v in {"clusters": clusters, "epochs": epochs}.items() if v is not None}
    for method in methods:
        check_sweepable(method, options, teacher)
    out = Path(out)
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    source = dataset if isinstance(data, Dataset) else str(data)
    runs = []
    for method in methods:
        if rate_set_after_training(method):
            for seed in seeds:
                run = out / run_dir_name(method, None, seed)
                trained = _train_or_read(method, source, run, {**options, "seed": seed}, progress, train,
                                         teacher_cache, teacher, precision, centring)
                if trained is not None:
                    runs += _runs_at_rates(method, dataset, run, trained, bits)
            continue
        for b in bits:
            for seed in seeds:
                run = out / run_dir_name(method, b, seed)
                m = _train_or_read(method, source, run, {**options, "bits": b, "seed": seed}, progress, train,
                                   teacher_cache, teacher, precision, centring)
                if m is not None:
                    runs.append(m)
    write_json(out / "sweep.json", {"runs": runs})
    plot_rate_curves(runs, out, reference)
    return runs


def plot_rate_curves(runs: list[dict], out: Path, reference: list[tuple[str, float, float, str]] = ()) -> list[Path]:
    """``acc_vs_bpp.png`` and ``psnr_vs_bpp.png``: mean line and ±1 std band, one line per method.

    ``reference``: published points ``(field, bpp, value, label)`` drawn as stars on the plot of ``field``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    for field, label, name in (("acc", "clustering accuracy (test)", "acc_vs_bpp.png"),
                               ("psnr", "reconstruction PSNR (dB, test)", "psnr_vs_bpp.png")):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        for method in sorted({r["method"] for r in runs}):
            rs = [r for r in runs if r["method"] == method and r.get(field) is not None]
            bpps = sorted({r["bpp"] for r in rs})
            if not bpps:
                continue
            vals = [[r[field] for r in rs if r["bpp"] == b] for b in bpps]
            mean = np.array([np.mean(v) for v in vals])
            std = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in vals])
            n = max(len(v) for v in vals)
            ax.plot(bpps, mean, marker="o", label=f"{method} (n={n})")
            ax.fill_between(bpps, mean - std, mean + std, alpha=0.2)
        for ref_field, bpp, value, ref_label in reference:
            if ref_field == field:
                ax.plot([bpp], [value], marker="*", markersize=12, linestyle="none", color="black", label=ref_label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a method with no value of this field draws nothing
            ax.legend()
        fig.tight_layout()
        path = Path(out) / name
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
