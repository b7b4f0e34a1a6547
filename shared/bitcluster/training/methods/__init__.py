"""Every clustering method behind one interface, looked up by name.

A method's module provides

* a config dataclass (named in :data:`METHODS`) whose defaults are the method's own;
* ``train(data, config, progress) -> (state, history)``: labels are never read;
* ``architecture(config, data) -> dict``: the shapes ``load`` rebuilds the network from
  (``config.json["model"]``);
* ``save(state, run_dir)``, ``load(run_dir) -> state`` and ``evaluate(state, data) -> metrics``;
* ``evaluate_at_rate(state, data, bits) -> metrics`` where the code length is chosen after
  training (the continuous-latent methods): the sweep scores one model at every rate.

Variants of one recipe (``kmeans`` and ``gmm``, the four autoencoder + mixture baselines) share a
module and differ by their config class. This registry imports no method until one is asked for,
so that the command line starts without torch.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

_PACKAGE = "bitcluster.training.methods"


@dataclass(frozen=True)
class Method:
    """A registered method: its ``name``, one line of ``help``, and where its code and config live."""

    name: str
    help: str
    module_name: str
    config_name: str

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(f"{_PACKAGE}.{self.module_name}")

    @property
    def config_class(self) -> type:
        return getattr(self.module, self.config_name)

    def options(self) -> list[str]:
        """The names the method's config takes, in declaration order."""
        return [f.name for f in dataclasses.fields(self.config_class)]

    def make_config(self, options: dict[str, Any]) -> Any:
        """The method's config with ``options`` set and every other field at its default.

        ``None`` means "not given" and keeps the default. An option the config does not have is
        a ``ValueError`` that lists the ones it has: nothing is silently dropped.
        """
        given = {k: v for k, v in options.items() if v is not None}
        known = self.options()
        unknown = [k for k in given if k not in known]
        if unknown:
            names = ", ".join(repr(k) for k in unknown)
            raise ValueError(f"{self.name} takes no option{'s' if len(unknown) > 1 else ''} {names}; "
                             f"its options are: {', '.join(known)}")
        return self.config_class(**given)

    @property
    def rate_set_after_training(self) -> bool:
        """True when one trained model is scored at any bit budget (``evaluate_at_rate``)."""
        return hasattr(self.module, "evaluate_at_rate")


def _method(name: str, help: str, module_name: str, config_name: str) -> tuple[str, Method]:
    return name, Method(name, help, module_name, config_name)


METHODS: dict[str, Method] = dict([
    _method("vab", "VAB with pre-training and unsupervised pseudo-labels (ours, the default)",
            "vab_teacher", "VABTeacherConfig"),
    _method("vab-paper", "VAB exactly as the paper trains it (ELBO + per-epoch EM refit)",
            "vab_paper", "VABPaperConfig"),
    _method("kmeans", "K-means on raw pixels (baseline)", "pixel_mixtures", "KMeansConfig"),
    _method("gmm", "Gaussian mixture (diagonal covariances) on raw pixels (baseline)", "pixel_mixtures", "GMMConfig"),
    _method("ae-kmeans", "dense autoencoder P-500-500-2000-10, then K-means on its latent",
            "ae_mixtures", "AEKMeansConfig"),
    _method("ae-gmm", "dense autoencoder P-500-500-2000-10, then a GMM on its latent", "ae_mixtures", "AEGMMConfig"),
    _method("convae-kmeans", "convolutional autoencoder, then K-means on its latent",
            "ae_mixtures", "ConvAEKMeansConfig"),
    _method("convae-gmm", "convolutional autoencoder, then a GMM on its latent", "ae_mixtures", "ConvAEGMMConfig"),
    _method("vade", "VaDE: VAE with a learnable Gaussian-mixture prior (Jiang et al. 2017)", "vade", "VaDEConfig"),
    _method("kdae", "k-DAE: one autoencoder per cluster (needs the raw image: not exportable)", "kdae", "KDAEConfig"),
    _method("kdvae", "k-DVAE: one VAE per cluster, VaDE-initialised (needs the raw image: not exportable)",
            "kdvae", "KDVAEConfig"),
    _method("vc", "variational clustering: Gumbel-Softmax + GMM-prior VAE, trained from scratch",
            "variational_clustering", "VCConfig"),
])


def lookup(name: str) -> Method:
    """The registered method ``name``; a ``ValueError`` naming the known ones otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


def get_method(name: str) -> ModuleType:
    """The module of method ``name`` (``train``, ``save``, ``load``, ``evaluate``, ...)."""
    return lookup(name).module


def make_config(name: str, options: dict[str, Any]) -> Any:
    """Method ``name``'s config from ``options`` (see :meth:`Method.make_config`)."""
    return lookup(name).make_config(options)
