"""Every clustering method behind one interface, looked up by name.

A method module provides ``train(method, data, options, progress) -> (state, history, config)``,
``save(state, run_dir)``, ``load(run_dir)`` and ``evaluate(state, data) -> metrics``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# name -> (module, one-line help)
METHODS: dict[str, tuple[str, str]] = {
    "vab": ("bitcluster.training.methods.vab", "VAB with pre-training and unsupervised pseudo-labels (ours, the default)"),
    "vab-paper": ("bitcluster.training.methods.vab", "VAB exactly as the paper trains it (ELBO + per-epoch EM refit)"),
    "kmeans": ("bitcluster.training.methods.pixel_mixtures", "K-means on raw pixels (baseline)"),
    "gmm": ("bitcluster.training.methods.pixel_mixtures", "Gaussian mixture (diagonal covariances) on raw pixels (baseline)"),
    "ae-kmeans": ("bitcluster.training.methods.ae_mixtures", "dense autoencoder P-500-500-2000-10, then K-means on its latent"),
    "ae-gmm": ("bitcluster.training.methods.ae_mixtures", "dense autoencoder P-500-500-2000-10, then a GMM on its latent"),
    "convae-kmeans": ("bitcluster.training.methods.ae_mixtures", "convolutional autoencoder, then K-means on its latent"),
    "convae-gmm": ("bitcluster.training.methods.ae_mixtures", "convolutional autoencoder, then a GMM on its latent"),
    "vade": ("bitcluster.training.methods.vade", "VaDE: VAE with a learnable Gaussian-mixture prior (Jiang et al. 2017)"),
    "kdae": ("bitcluster.training.methods.kdae", "k-DAE: one autoencoder per cluster (needs the raw image: not exportable)"),
    "kdvae": ("bitcluster.training.methods.kdvae", "k-DVAE: one VAE per cluster, VaDE-initialised (needs the raw image: "
                                           "not exportable)"),
    "vc": ("bitcluster.training.methods.variational_clustering", "variational clustering: Gumbel-Softmax + GMM-prior VAE, "
                                                          "trained from scratch"),
}


def get_method(name: str) -> ModuleType:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return importlib.import_module(METHODS[name][0])
