"""Every clustering method behind one declared interface, looked up by name.

A method is a module that satisfies :class:`MethodModule` (``train``, ``architecture``, ``save``,
``load``, ``evaluate``) and a config dataclass whose defaults are the method's own. What only
some methods can do is declared in their :class:`Method` entry, never discovered:

* ``rate_set_after_training``: the module has ``evaluate_at_rate(state, data, bits)``, so one
  trained model is scored at any code length (the continuous-latent methods; the sweep uses it);
* ``protocol_notes``: the module has ``protocol_notes(config, data) -> list[str]``, where the
  recipe differs from the method's paper;
* ``uses_teacher``: ``train`` takes ``teachers`` (a :class:`~bitcluster.training.teacher.TeacherSource`)
  and learns from, or starts from, the cached teacher;
* ``exportable``: ``bitcluster export`` can split a run into vendor and consumer halves;
* ``trains_in_bf16``: its losses keep their delicate parts in float32
  (:func:`~bitcluster.training.precision.in_float32`), so its forward passes may run under
  bfloat16 autocast (``--precision bf16``, or ``auto`` where the hardware has it); the others
  train in float32 whatever is asked;
* ``trains_on_colour``: it learns from RGB images as well as grey ones (dense networks take the
  H * W * 3 vector as they take H * W; the convolutional autoencoder reads it as three planes);
  a method declared without it refuses RGB data before training (:func:`check_channels_trainable`).
  Every registered method has it today;
* ``centring``: how its runs centre the images unless asked otherwise (``auto``, ``mass`` or
  ``none``; :mod:`bitcluster.training.teacher.centring`): ``auto`` for ``vab``, whose teacher and
  student both gain where objects move about the frame; ``none`` for the baselines, which train
  on the images as their papers did.

:func:`lookup` checks the module against the contract and the declared capabilities the first
time the module is asked for. Variants of one recipe (``kmeans`` and ``gmm``, the four
autoencoder + mixture baselines) share a module and differ by their config class. This registry
imports no method until one is asked for, so that the command line starts without torch.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

_PACKAGE = "bitcluster.training.methods"


@runtime_checkable
class MethodModule(Protocol):
    """What every method's module provides. Labels are never read by ``train``."""

    def train(self, data: Any, config: Any, progress: bool = True) -> tuple[Any, list[dict]]:
        """Train on ``data.x_train``: the state (what ``save`` writes) and one history row per epoch."""

    def architecture(self, config: Any, data: Any) -> dict:
        """The shapes ``load`` rebuilds the network from (``config.json["model"]``)."""

    def save(self, state: Any, run_dir: Path) -> None:
        """Write the trained state into ``run_dir``."""

    def load(self, run_dir: Path) -> Any:
        """The state ``save`` wrote."""

    def evaluate(self, state: Any, data: Any) -> dict:
        """Test-split metrics."""


# Each declared capability and the function of the module that provides it.
CAPABILITIES = {"rate_set_after_training": "evaluate_at_rate", "protocol_notes": "protocol_notes"}


class MethodContractError(TypeError):
    """A registered method's module does not provide what the contract or its entry declares."""


@dataclass(frozen=True)
class Method:
    """A registered method: its ``name``, one line of ``help``, where its code and config live, what it can do."""

    name: str
    help: str
    module_name: str
    config_name: str
    rate_set_after_training: bool = False
    protocol_notes: bool = False
    uses_teacher: bool = False
    exportable: bool = True
    trains_in_bf16: bool = False
    trains_on_colour: bool = True
    centring: str = "none"

    @property
    def module(self) -> ModuleType:
        """The method's module, checked against :class:`MethodModule` and the declared capabilities."""
        module = importlib.import_module(f"{_PACKAGE}.{self.module_name}")
        missing = [f"{capability} (declared): {function}" for capability, function in CAPABILITIES.items()
                   if getattr(self, capability) and not callable(getattr(module, function, None))]
        if not isinstance(module, MethodModule) or missing:
            raise MethodContractError(f"method {self.name!r}: {module.__name__} does not satisfy the method "
                                      f"contract{'; missing ' + ', '.join(missing) if missing else ''}")
        return module

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


_LATENT = {"rate_set_after_training": True, "protocol_notes": True}

METHODS: dict[str, Method] = {m.name: m for m in [
    Method("vab", "VAB with pre-training and unsupervised pseudo-labels (ours, the default)",
           "vab.with_teacher", "VABTeacherConfig", uses_teacher=True, trains_in_bf16=True, centring="auto"),
    Method("vab-paper", "VAB exactly as the paper trains it (ELBO + per-epoch EM refit)", "vab.paper", "VABPaperConfig",
           trains_in_bf16=True),
    Method("kmeans", "K-means on raw pixels (baseline)", "pixel_mixtures", "KMeansConfig", exportable=False),
    Method("gmm", "Gaussian mixture (diagonal covariances) on raw pixels (baseline)", "pixel_mixtures", "GMMConfig",
           exportable=False),
    Method("ae-kmeans", "dense autoencoder P-500-500-2000-10, then K-means on its latent",
           "ae_mixtures", "AEKMeansConfig", uses_teacher=True, **_LATENT),
    Method("ae-gmm", "dense autoencoder P-500-500-2000-10, then a GMM on its latent", "ae_mixtures", "AEGMMConfig",
           uses_teacher=True, **_LATENT),
    Method("convae-kmeans", "convolutional autoencoder, then K-means on its latent",
           "ae_mixtures", "ConvAEKMeansConfig", uses_teacher=True, **_LATENT),
    Method("convae-gmm", "convolutional autoencoder, then a GMM on its latent", "ae_mixtures",
           "ConvAEGMMConfig", uses_teacher=True, **_LATENT),
    Method("vade", "VaDE: VAE with a learnable Gaussian-mixture prior (Jiang et al. 2017)", "vade", "VaDEConfig",
           uses_teacher=True, **_LATENT),
    Method("kdae", "k-DAE: one autoencoder per cluster (needs the raw image: not exportable)", "kdae", "KDAEConfig",
           protocol_notes=True, uses_teacher=True, exportable=False),
    Method("kdvae", "k-DVAE: one VAE per cluster, VaDE-initialised (needs the raw image: not exportable)",
           "kdvae", "KDVAEConfig", protocol_notes=True, uses_teacher=True, exportable=False),
    Method("vc", "variational clustering: Gumbel-Softmax + GMM-prior VAE, trained from scratch",
           "variational_clustering", "VCConfig", **_LATENT),
]}


def lookup(name: str) -> Method:
    """The registered method ``name``; a ``ValueError`` naming the known ones otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


def check_channels_trainable(method: Method, preprocessing: Any) -> None:
    """Refuse RGB data (``preprocessing.channels`` 3) for a method that trains on grey images only."""
    if preprocessing.channels != 1 and not method.trains_on_colour:
        colour = ", ".join(m.name for m in METHODS.values() if m.trains_on_colour)
        raise ValueError(f"{method.name} trains on grey images only, and this data is RGB "
                         f"({preprocessing.describe()}): train {colour} on it, or read it as grey "
                         "(--channels 1 for a folder; an .npz as (N, H, W))")


def get_method(name: str) -> ModuleType:
    """The module of method ``name`` (``train``, ``save``, ``load``, ``evaluate``, ...)."""
    return lookup(name).module


def make_config(name: str, options: dict[str, Any]) -> Any:
    """Method ``name``'s config from ``options`` (see :meth:`Method.make_config`)."""
    return lookup(name).make_config(options)
