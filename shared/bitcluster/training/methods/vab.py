"""VAB behind the method interface (``vab`` and ``vab-paper``)."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file, save_file

from bitcluster.data import Dataset
from bitcluster.training.evaluation import evaluate_vab
from bitcluster.training.nets.vab import VAB, VABConfig
from bitcluster.training.runs import WEIGHTS, read_config
from bitcluster.training.vab_trainer import VABTrainConfig, train_vab

RECIPE_OF_METHOD = {"vab": "teacher", "vab-paper": "paper"}


def train(method: str, data: Dataset, options: dict, progress: bool = True):
    cfg = VABTrainConfig(recipe=RECIPE_OF_METHOD[method],
                         **{k: v for k, v in options.items() if v is not None and k in VABTrainConfig.__dataclass_fields__})
    model, history = train_vab(data, cfg, progress=progress)
    return model, history, {"train": cfg.to_dict(), "model": model.config.to_dict()}


def save(model: VAB, run_dir: Path) -> None:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(Path(run_dir) / WEIGHTS))


def load(run_dir: Path) -> VAB:
    cfg = read_config(run_dir)
    model = VAB(VABConfig(**cfg["model"]))
    model.load_state_dict(load_file(str(Path(run_dir) / WEIGHTS)))
    model.eval()
    return model


def evaluate(model: VAB, data: Dataset) -> dict:
    return evaluate_vab(model, data)

