"""Every clustering method behind one interface, looked up by name.

A method module provides ``train(method, data, options, progress) -> (state, history, config)``,
``save(state, run_dir)``, ``load(run_dir)`` and ``evaluate(state, data) -> metrics``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# name -> (module, one-line help)
METHODS: dict[str, tuple[str, str]] = {
    "vab": ("bitcluster.methods.vab", "VAB with pre-training and unsupervised pseudo-labels (ours, the default)"),
    "vab-paper": ("bitcluster.methods.vab", "VAB exactly as the paper trains it (ELBO + per-epoch EM refit)"),
    "kmeans": ("bitcluster.baselines.pixel_mixtures", "K-means on raw pixels (baseline)"),
    "gmm": ("bitcluster.baselines.pixel_mixtures", "Gaussian mixture (diagonal covariances) on raw pixels (baseline)"),
    "ae-kmeans": ("bitcluster.baselines.ae_mixtures", "dense autoencoder P-500-500-2000-10, then K-means on its latent"),
    "ae-gmm": ("bitcluster.baselines.ae_mixtures", "dense autoencoder P-500-500-2000-10, then a GMM on its latent"),
    "convae-kmeans": ("bitcluster.baselines.ae_mixtures", "convolutional autoencoder, then K-means on its latent"),
    "convae-gmm": ("bitcluster.baselines.ae_mixtures", "convolutional autoencoder, then a GMM on its latent"),
    "vade": ("bitcluster.baselines.vade", "VaDE: VAE with a learnable Gaussian-mixture prior (Jiang et al. 2017)"),
    "kdae": ("bitcluster.baselines.kdae", "k-DAE: one autoencoder per cluster (needs the raw image: not exportable)"),
    "kdvae": ("bitcluster.baselines.kdvae", "k-DVAE: one VAE per cluster, VaDE-initialised (needs the raw image: "
                                           "not exportable)"),
    "vc": ("bitcluster.baselines.variational_clustering", "variational clustering: Gumbel-Softmax + GMM-prior VAE, "
                                                          "trained from scratch"),
}


def get_method(name: str) -> ModuleType:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return importlib.import_module(METHODS[name][0])
