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
