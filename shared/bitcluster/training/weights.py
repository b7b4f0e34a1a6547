"""A torch module's weights in a run directory, as safetensors (no pickle)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from bitcluster.training.runs import WEIGHTS, RunDirError

def save_weights(module: torch.nn.Module, run_dir: Path, name: str = WEIGHTS) -> None:
    """Write ``module``'s state dict to ``run_dir/name`` atomically."""
    path = Path(run_dir) / name
    tmp = path.with_name(path.name + ".tmp")
    # from the CPU: the same file whichever device trained the module
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp))
    tmp.replace(path)


def load_weights(module: torch.nn.Module, run_dir: Path, name: str = WEIGHTS) -> torch.nn.Module:
    """Load ``run_dir/name`` into ``module`` and return it in eval mode."""
    path = Path(run_dir) / name
    if not path.is_file():
        raise RunDirError(f"{path} is missing: is {path.parent} a bitcluster run directory?")
    module.load_state_dict(load_file(str(path)))
    return module.eval()
