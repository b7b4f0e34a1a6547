"""Every clustering method behind one interface, looked up by name.

A method module provides ``train(data, options, progress) -> (state, history)``,
``save(state, run_dir)``, ``load(run_dir)`` and ``evaluate(state, data) -> metrics``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# name -> (module, one-line help)
METHODS: dict[str, tuple[str, str]] = {
    "vab": ("bitcluster.methods.vab", "VAB with pre-training and unsupervised pseudo-labels (ours, the default)"),
    "vab-paper": ("bitcluster.methods.vab", "VAB exactly as the paper trains it (ELBO + per-epoch EM refit)"),
}


def get_method(name: str) -> ModuleType:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return importlib.import_module(METHODS[name][0])
