"""The teacher's settings, and the rules that size them from the data.

The teacher clusters PCA features (50 components) of the run's training images, as its
preprocessing made them (centred or not: :mod:`.centring`). The
``autoencoder`` features follow the DEC / VaDE / N2D family (a ``P-500-500-2000-10`` autoencoder,
Adam at 1e-3, batches of 256); the clustering is N2D's (UMAP with 20 neighbours and
``min_dist=0`` into K dimensions, a full-covariance GMM). What depends on the data is derived from its size, never from one dataset's scores:
the batch shrinks for small data so that an epoch still makes 20 steps, and the stopping rule
and its cap count Adam steps, so that small and large data sets get the same amount of training
per judgement.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from bitcluster.training.loop import batch_size_for
from bitcluster.training.precision import RESOLVED, resolve_precision
from bitcluster.training.teacher.stopping import PlateauRule

# Bump when the stage's computation changes: cached teachers of an older recipe are not reused.
RECIPE_VERSION = 3
FEATURES = ("pca", "autoencoder")


@dataclass(frozen=True)
class TeacherConfig:
    """How the teacher is built. Every field enters the cache key (``precision`` when it is not ``fp32``).

    Attributes
    ----------
    features : ``pca`` or ``autoencoder``: what UMAP + GMM cluster (:mod:`.features`)
    pca_components : PCA's dimensions (at most the number of pixels)
    latent, hidden : the autoencoder ``P-hidden-latent`` (the decoder mirrors it)
    learning_rate : Adam's
    batch_size : None: 256, or ``n // 20`` (at least 16) when that is smaller
    plateau_steps : the stopping rule judges progress over about this many Adam steps
    plateau_tolerance : stop when the best epoch loss improved by at most this fraction over them
    max_steps : cap on Adam steps, whatever the loss does
    umap_neighbors, umap_min_dist : UMAP's (N2D's choice; ``min_dist=0`` packs clusters tightly)
    umap_components : None: the number of clusters K, as in N2D
    gmm_restarts : EM runs from different starts; the one of highest likelihood is kept
    gmm_reg_covar : added to the GMM's covariance diagonals (UMAP packs clusters very tightly)
    precision : ``fp32`` or ``bf16``, what the autoencoder trains in (resolved: a run sets it from
        its ``--precision``). It changes the weights, hence the pseudo-labels, so it is part of the
        cache key: a bf16 teacher is never handed to an fp32 run, nor the reverse
    recipe : :data:`RECIPE_VERSION`
    """

    features: str = "pca"
    pca_components: int = 50
    latent: int = 10
    hidden: tuple[int, ...] = (500, 500, 2000)
    learning_rate: float = 1e-3
    batch_size: int | None = None
    plateau_steps: int = 1000
    plateau_tolerance: float = 0.01
    max_steps: int = 50_000
    umap_neighbors: int = 20
    umap_min_dist: float = 0.0
    umap_components: int | None = None
    gmm_restarts: int = 10
    gmm_reg_covar: float = 1e-4
    precision: str = "fp32"
    recipe: int = RECIPE_VERSION

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise ValueError(f"teacher features are one of {', '.join(FEATURES)}, not {self.features!r}")
        if self.pca_components < 1:
            raise ValueError(f"the teacher needs pca_components >= 1, got {self.pca_components}")
        if self.precision not in RESOLVED:
            raise ValueError(f"the teacher trains in {' or '.join(RESOLVED)}, not {self.precision!r}")

    def at_precision(self, precision: str, device: str = "cpu") -> "TeacherConfig":
        """This config with ``precision`` (``auto``, ``fp32``, ``bf16``) resolved on ``device``.

        A teacher of PCA features trains no network: it stays ``fp32`` whatever the run's precision,
        so that an fp32 and a bf16 run share its cache entry.
        """
        resolved = resolve_precision(precision, device)
        return dataclasses.replace(self, precision="fp32" if self.features == "pca" else resolved)

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "TeacherConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        if "hidden" in kept:
            kept["hidden"] = tuple(kept["hidden"])
        return cls(**kept)

    @classmethod
    def from_options(cls, options: list[str]) -> "TeacherConfig":
        """The config with ``name=value`` options set (the command line's ``--teacher-option``).

        Values are read by the field's type: ``hidden=500,500,2000``, ``umap_components=none``.
        An unknown name, ``recipe`` (the code's, not a choice), ``precision`` (``--precision``'s) or
        a value of the wrong type is a ``ValueError`` that says what is accepted.
        """
        fields = {f.name: f.type for f in dataclasses.fields(cls) if f.name not in ("recipe", "precision")}
        given = {}
        for option in options:
            name, sep, value = option.partition("=")
            name = name.strip()
            if name == "centring":
                raise ValueError(f"teacher option {option!r}: centring is a step of the run's preprocessing, "
                                 "which the teacher and the model share: --centring auto|mass|none")
            if not sep or name not in fields:
                raise ValueError(f"teacher option {option!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}")
            try:
                given[name] = _parse(fields[name], value.strip())
            except ValueError:
                raise ValueError(f"teacher option {option!r}: {name} takes {fields[name]}") from None
        return cls(**given)

    def plateau_rule(self, n: int) -> PlateauRule:
        """The stopping rule for ``n`` training images, with its window and cap in epochs."""
        steps_per_epoch = math.ceil(n / batch_size_for(n, self.batch_size))
        window = max(2, math.ceil(self.plateau_steps / steps_per_epoch))
        max_epochs = max(window + 1, math.ceil(self.max_steps / steps_per_epoch))
        return PlateauRule(window=window, tolerance=self.plateau_tolerance, max_epochs=max_epochs)


def _parse(type_name: str, value: str):
    """``value`` read as the field type ``type_name`` (as written in :class:`TeacherConfig`)."""
    if type_name == "tuple[int, ...]":
        return tuple(int(part) for part in value.split(","))
    if type_name.endswith("| None") and value.lower() == "none":
        return None
    return {"int": int, "float": float, "str": str}[type_name.split("|")[0].strip()](value)
