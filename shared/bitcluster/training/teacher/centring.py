"""Whether a run's images are centred: ``mass``, ``none``, or ``auto`` (decided per data set, without labels).

Centring (:mod:`bitcluster.core.centring`) is a step of the model's
:class:`~bitcluster.core.preprocessing.Preprocessing`: the teacher clusters the centred images,
the student learns from them, and the vendor centres what it encodes. ``auto`` decides with the
teacher's own tools: on up to :data:`CHOICE_IMAGES` training images, PCA + UMAP + GMM run
:data:`CHOICE_RUNS` times with different UMAP seeds for each candidate, and the candidate whose
clusterings agree most (mean pairwise adjusted Rand index) is taken. A representation that
exposes real clusters gives the same clusters whatever UMAP's seed; one that groups images by
position does not. Ties keep the images as they are. The decision is cached beside the teachers
(``<cache>/centring/<key>.json``), keyed by the images, K, the seed and the settings it used.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from typing import Callable

import numpy as np

from bitcluster.core.centring import CENTRES, CENTRING
from bitcluster.data import Dataset
from bitcluster.training.teacher.cache import TeacherCache, data_hash, decisions_dir
from bitcluster.training.teacher.config import TeacherConfig
from bitcluster.training.teacher.features import pca_features
from bitcluster.training.teacher.pseudo_labels import pseudo_labels

CHOICE_IMAGES = 5000
CHOICE_RUNS = 2
# The settings of the teacher that the choice uses; the others (the autoencoder's) do not enter it.
CHOICE_SETTINGS = ("pca_components", "umap_neighbors", "umap_min_dist", "umap_components", "gmm_restarts",
                   "gmm_reg_covar", "recipe")


def resolve_centring(data: Dataset, clusters: int, seed: int, centring: str, *, config: TeacherConfig,
                     cache: TeacherCache, say: Callable[[str], None] = lambda _message: None,
                     images: int = CHOICE_IMAGES, runs: int = CHOICE_RUNS) -> tuple[Dataset, dict]:
    """``data`` with its images centred or not as ``centring`` (``auto``, ``mass``, ``none``) says.

    Returns the dataset (a new one, its ``preprocessing.centre`` set, when centred) and the record
    a run keeps in its metrics: ``asked``, ``centre`` (what was applied) and, for ``auto``,
    ``choice`` (:func:`choose_centring`'s record, with ``source``: ``cache`` or ``measured``).
    A dataset already centred (given as a :class:`Dataset`) stays so under ``auto`` or ``mass``.
    """
    if centring not in CENTRING:
        raise ValueError(f"centring is one of {', '.join(CENTRING)}, not {centring!r}")
    record: dict = {"asked": centring, "centre": centring, "choice": None}
    if data.preprocessing.centre != "none" and centring in ("auto", data.preprocessing.centre):
        record["centre"] = data.preprocessing.centre
    elif centring == "auto":
        record["centre"], record["choice"] = _cached_choice(data, clusters, seed, config, cache, say, images, runs)
    return centred_dataset(data, record["centre"]), record


def centred_dataset(data: Dataset, centre: str) -> Dataset:
    """``data`` with both splits preprocessed with ``centre`` (the same object when nothing changes)."""
    if centre == data.preprocessing.centre:
        return data
    preprocessing, x_train = data.preprocessing.centred(centre, data.x_train)
    _, x_test = data.preprocessing.centred(centre, data.x_test)
    return Dataset(data.name, x_train, data.y_train, x_test, data.y_test, preprocessing)


def choose_centring(data: Dataset, clusters: int, seed: int, config: TeacherConfig, *,
                    images: int = CHOICE_IMAGES, runs: int = CHOICE_RUNS) -> tuple[str, dict]:
    """``none`` or ``mass``: the one whose UMAP + GMM clusterings agree most across UMAP seeds.

    Measured on a random subset of at most ``images`` training images, with PCA features whatever
    ``config.features`` is (the choice is about the images, and PCA is cheap). Labels are never read.

    Returns
    -------
    the choice, and its record: ``images`` (how many were used), ``runs``, ``agreement`` (candidate
    -> mean pairwise adjusted Rand index), ``seconds``
    """
    from sklearn.metrics import adjusted_rand_score

    if runs < 2 or images < 2:
        raise ValueError(f"the centring choice needs at least 2 images and 2 runs, got {images} and {runs}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(len(data.x_train), size=min(len(data.x_train), images), replace=False))
    agreement = {}
    for candidate in CENTRES:
        _, images = data.preprocessing.centred(candidate, data.x_train[subset])
        features, _ = pca_features(images, config.pca_components, seed)
        labels = [pseudo_labels(features, clusters, seed + run, config).responsibilities.argmax(axis=1)
                  for run in range(runs)]
        agreement[candidate] = float(np.mean([adjusted_rand_score(a, b)
                                              for a, b in itertools.combinations(labels, 2)]))
    best = max(CENTRES, key=lambda c: (agreement[c], -CENTRES.index(c)))
    return best, {"images": int(len(subset)), "runs": runs, "agreement": agreement,
                  "seconds": time.perf_counter() - t0}


def _cached_choice(data: Dataset, clusters: int, seed: int, config: TeacherConfig, cache: TeacherCache,
                   say: Callable[[str], None], images: int, runs: int) -> tuple[str, dict]:
    """:func:`choose_centring`, read from the cache when this data, K, seed and settings were judged before."""
    if data.preprocessing.centre != "none":
        raise ValueError("centring=auto judges images as they are: these are already centred")
    settings = {name: getattr(config, name) for name in CHOICE_SETTINGS}
    spec = {"data": data_hash(data.x_train), "clusters": clusters, "seed": seed, "images": images, "runs": runs,
            "settings": settings}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
    path = decisions_dir(cache.root()) / f"{key}.json"
    if cache.enabled and path.is_file():
        stored = json.loads(path.read_text())
        say(f"centring: {stored['centre']} (decided before, read from {path})")
        return stored["centre"], {**stored["choice"], "source": "cache"}
    say(f"centring: judging whether to centre the images (UMAP + GMM, {runs} seeds x 2 candidates on up to "
        f"{images} images; about a minute on 60,000)")
    centre, choice = choose_centring(data, clusters, seed, config, images=images, runs=runs)
    say(f"centring: {centre} (agreement across UMAP seeds: "
        + ", ".join(f"{k} {v:.3f}" for k, v in choice["agreement"].items()) + f"; {choice['seconds']:.0f} s)")
    if cache.enabled:  # two runs judging at once write the same file: the rename is atomic, either is right
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"centre": centre, "choice": choice, "key": spec}, indent=2, sort_keys=True))
        os.replace(temporary, path)
    return centre, {**choice, "source": "measured"}

