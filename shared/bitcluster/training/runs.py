"""The run directory: ``config.json``, ``model.safetensors``, ``metrics.json``, ``history.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.json"
HISTORY = "history.json"


class RunDirError(ValueError):
    """Raised for a run directory that is missing a file or was made by another method."""


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing: is {path.parent} a bitcluster run directory?")
    return json.loads(path.read_text())


def read_config(run_dir: Path) -> dict:
    return read_json(Path(run_dir) / CONFIG)


def run_dataset(run_dir: Path, config: dict, data: str | None = None):
    """The run's dataset (or ``data``), preprocessed as the run's images were: size, channels and centring.

    A ``ValueError`` when ``data``'s images are of another size or kind than the run trained on.
    """
    from bitcluster.core.preprocessing import Preprocessing
    from bitcluster.data import load_dataset
    from bitcluster.training.teacher.centring import centred_dataset

    dataset = load_dataset(data or config.get("data_source", config["dataset"]))
    trained_on = Preprocessing.from_dict(config["preprocessing"])  # a run from before colour has no channels: grey
    if not dataset.preprocessing.same_images(trained_on):
        raise ValueError(f"{run_dir} was trained on {trained_on.describe()} images, "
                         f"but {dataset.name} has {dataset.preprocessing.describe()}: pick its own dataset")
    return centred_dataset(dataset, trained_on.centre)
