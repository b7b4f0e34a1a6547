"""The dense autoencoder the baselines pre-train, taken from a teacher instead of trained per run.

DEC, VaDE, Bhattarai's AE+GMM and the k-DVAE paper's comparison all start by pre-training the
same ``P-500-500-2000-10`` autoencoder on reconstruction. :mod:`bitcluster.training.teacher`
trains that network once per (data, K, seed, config) until its loss flattens and caches it, when
asked for ``autoencoder`` features (``vab``'s default teacher clusters PCA features instead) of
the run's images (uncentred, as the baselines' papers had them, unless the run asked otherwise);
the methods whose papers pre-train start from a copy of it, so that a
comparison of methods trains it once, and every method starts from the same network.
"""

from __future__ import annotations

from bitcluster.data import Dataset
from bitcluster.training.nets.autoencoders import DenseAutoencoder
from bitcluster.training.teacher import TeacherSource

PRETRAINING = ("shared", "own")
# The "phase" of the history rows that record the shared autoencoder's training.
SHARED_PHASE = "shared autoencoder"


def check_pretraining(pretraining: str) -> None:
    if pretraining not in PRETRAINING:
        raise ValueError(f"unknown pretraining {pretraining!r}; choose one of {', '.join(PRETRAINING)}")


def shared_autoencoder_if_asked(pretraining: str, teachers: TeacherSource, data: Dataset, clusters: int, seed: int,
                                latent: int, hidden: list[int],
                                progress: bool) -> tuple[DenseAutoencoder, list[dict]] | None:
    """:func:`shared_autoencoder` when ``pretraining`` is "shared", None for "own" (a ValueError otherwise)."""
    check_pretraining(pretraining)
    if pretraining != "shared":
        return None
    return shared_autoencoder(teachers, data, clusters, seed, latent, hidden, progress)


def shared_autoencoder(teachers: TeacherSource, data: Dataset, clusters: int, seed: int, latent: int,
                       hidden: list[int], progress: bool) -> tuple[DenseAutoencoder, list[dict]]:
    """The teacher's trained ``P-hidden-latent`` autoencoder of ``data.x_train`` (from its cache when there).

    The run's teacher config is used with ``latent`` and ``hidden`` fixed by the method's own config.

    Call it before seeding the method's own generator: a cache hit and a fresh build then leave
    the same random state behind.

    Returns
    -------
    a fresh copy of the autoencoder (eval mode), and one history row per pre-training epoch
    (``phase`` "shared autoencoder", the epoch's mean reconstruction ``loss``, ``teacher``: the
    cache entry, ``stop_reason``)
    """
    teacher = teachers.teacher(data, clusters, seed, progress=progress, latent=latent, hidden=tuple(hidden),
                               features="autoencoder")
    record = teacher.metadata["autoencoder"]
    rows = [{"epoch": i, "phase": SHARED_PHASE, "loss": loss, "teacher": str(teacher.path)}
            for i, loss in enumerate(record["losses"])]
    if rows:
        rows[-1].update(stop_reason=record["stop_reason"], steps=record["steps"], batch_size=record["batch_size"],
                        seconds=record["seconds"])
    return teacher.autoencoder(), rows
