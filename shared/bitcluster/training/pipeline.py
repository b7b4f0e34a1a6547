"""Train -> evaluate -> save: what ``bitcluster train`` and the benchmarks run."""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path

from bitcluster import __version__
from bitcluster.data import BUILTIN_DATASETS, Dataset, load_dataset
from bitcluster.training.methods import get_method, lookup
from bitcluster.training.runs import CONFIG, HISTORY, METRICS, read_config, write_json


def train_run(method: str, data: str | Dataset, out: Path, options: dict, progress: bool = True) -> dict:
    """Train ``method`` on ``data``, score it on the test split and write the run directory.

    ``options`` set fields of the method's config (``None``: keep the default); an option the
    method does not take is a ``ValueError`` that lists the ones it does, raised before anything
    is loaded or trained. Returns the metrics written to ``metrics.json``.
    """
    import torch

    spec = lookup(method)
    cfg = spec.make_config(options)
    impl = spec.module
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    state, history = impl.train(dataset, cfg, progress=progress)
    train_seconds = time.perf_counter() - t0
    # Where the data came from, so that `evaluate` finds it again (a user file by its absolute path).
    source = data if isinstance(data, str) else dataset.name
    if isinstance(data, str) and data not in BUILTIN_DATASETS:
        source = str(Path(data).resolve())
    config = {"method": method, "dataset": dataset.name, "data_source": source,
              "preprocessing": dataset.preprocessing.to_dict(), "bitcluster_version": __version__,
              "train": dataclasses.asdict(cfg), "model": impl.architecture(cfg, dataset)}
    write_json(out / CONFIG, config)
    impl.save(state, out)
    write_json(out / HISTORY, history)
    epochs = len(history)
    metrics = {"method": method, "dataset": dataset.name, "seed": cfg.seed, "clusters": cfg.clusters,
               "epochs": epochs, "train_seconds": train_seconds,
               "seconds_per_epoch": train_seconds / epochs if epochs else None,
               "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
               **impl.evaluate(state, dataset)}
    write_json(out / METRICS, metrics)
    return metrics


def evaluate_run(run_dir: Path, data: str | None = None) -> dict:
    """Re-score a run directory, on its own dataset or on ``data``."""
    config = read_config(run_dir)
    impl = get_method(config["method"])
    dataset = load_dataset(data or config.get("data_source", config["dataset"]))
    trained_on = config["preprocessing"]
    if dataset.preprocessing.to_dict() != trained_on:
        raise ValueError(f"{run_dir} was trained on {trained_on['height']}x{trained_on['width']} images, "
                         f"but {dataset.name} has {dataset.preprocessing.height}x{dataset.preprocessing.width}")
    state = impl.load(Path(run_dir))
    return {"method": config["method"], "dataset": dataset.name, **impl.evaluate(state, dataset)}
