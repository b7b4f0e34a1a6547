"""The teacher: features (PCA or an autoencoder, :mod:`.features`) -> UMAP + GMM pseudo-labels,
built once per (data, K, seed, config) and cached.

Labels, when the data has them, score the finished teacher (train ACC / NMI in its metadata) and
are used for nothing else.
"""

from __future__ import annotations

import datetime
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

import bitcluster
from bitcluster.core.metrics import cluster_accuracy
from bitcluster.data import Dataset
from bitcluster.training.nets.autoencoders import DenseAutoencoder
from bitcluster.training.teacher import cache as cache_module
from bitcluster.training.teacher.autoencoder import build_autoencoder
from bitcluster.training.teacher.cache import TeacherCache
from bitcluster.training.teacher.config import TeacherConfig
from bitcluster.training.teacher.features import teacher_features
from bitcluster.training.teacher.pseudo_labels import pseudo_labels


WHAT_A_TEACHER_IS = ("teacher: this run learns from a teacher (PCA or autoencoder features + UMAP + GMM "
                     "pseudo-labels), built once per data set, K, seed and teacher config and cached.")


@dataclass
class Teacher:
    """A finished teacher for one training set.

    Attributes
    ----------
    responsibilities : (N, K) float64 soft pseudo-labels of ``x_train`` (rows sum to 1)
    embedding : (N, F) float32 features of ``x_train`` UMAP was given (PCA components or the
        autoencoder's latent)
    manifold : (N, C) float32 UMAP embedding the GMM was fitted on
    metadata : what ``metadata.json`` holds (config, features, timings, stopping, scores)
    weights : the autoencoder's state dict; empty when the features are PCA's
    path : the cache entry it was read from or written to; None when built without the cache
    source : "cache" (read back), "built" (and cached) or "built, not cached"
    """

    responsibilities: np.ndarray
    embedding: np.ndarray
    manifold: np.ndarray
    metadata: dict
    weights: dict[str, torch.Tensor] = field(repr=False)
    path: Path | None = None
    source: str = "built, not cached"

    @property
    def labels(self) -> np.ndarray:
        """(N,) int64 hard pseudo-labels: the most responsible cluster."""
        return self.responsibilities.argmax(axis=1)

    @property
    def config(self) -> TeacherConfig:
        return TeacherConfig.from_dict(self.metadata["config"])

    def summary(self) -> dict:
        """The metadata without the per-epoch losses, plus where the entry lives (for printing)."""
        out = {k: v for k, v in self.metadata.items() if k != "autoencoder"}
        trained = self.metadata.get("autoencoder")
        out["autoencoder"] = None if trained is None else {k: v for k, v in trained.items() if k != "losses"}
        out["path"] = None if self.path is None else str(self.path)
        return out

    def usage(self) -> dict:
        """What a run records of the teacher it learned from (its ``metrics.json["teachers"]``).

        The cache key, where it came from and the teacher's own train scores, so that two runs
        can be compared knowing whether they shared it.
        """
        meta = self.metadata
        return {"key": meta["key"], "source": self.source, "path": None if self.path is None else str(self.path),
                "data_hash": meta.get("data_hash"), "clusters": meta.get("clusters"), "seed": meta.get("seed"),
                "created": meta.get("created"), "config": meta.get("config"),
                "features": meta.get("features"),
                "autoencoder_epochs": (meta.get("autoencoder") or {}).get("epochs"),
                "build_seconds": meta.get("seconds", {}).get("total"),
                "gmm_log_likelihood": meta.get("gmm_log_likelihood"), "train_scores": meta.get("train_scores")}

    def autoencoder(self) -> DenseAutoencoder:
        """A fresh copy of the trained autoencoder (eval mode): ``g_a`` encodes, ``g_s`` decodes.

        A ``ValueError`` for a teacher of PCA features, which has none.
        """
        if not self.weights:
            raise ValueError("this teacher clustered PCA features and has no autoencoder; build one with "
                             "TeacherConfig(features='autoencoder')")
        model = build_autoencoder(self.metadata["n_pixels"], self.config)
        model.load_state_dict(self.weights)
        return model.eval()


def load_teacher(entry: Path) -> Teacher:
    """Read a complete cache entry."""
    from safetensors.torch import load_file

    metadata, arrays = cache_module.read_entry(entry)
    return Teacher(arrays["responsibilities"], arrays["embedding"], arrays["manifold"], metadata,
                   load_file(str(entry / cache_module.WEIGHTS)), Path(entry), "cache")


def build_teacher(data: Dataset, clusters: int, seed: int, *, config: TeacherConfig | None = None,
                  cache: TeacherCache = TeacherCache(), progress: bool = True) -> Teacher:
    """The teacher of ``data.x_train``: from the cache when it is there, else built (and cached).

    Parameters
    ----------
    data : its ``x_train`` (N, P) is used; ``y_train``, if any, only to score the result
    clusters : K
    config : how to build it (default :class:`TeacherConfig`); every field is in the cache key
    cache : where to look for it and keep it (default: the default cache directory)
    """
    config = config or TeacherConfig()
    if clusters < 2:
        raise ValueError(f"a teacher needs at least 2 clusters, got {clusters}")
    say = announcer(progress)
    x_hash = cache_module.data_hash(data.x_train)
    key = cache_module.cache_key(x_hash, clusters, seed, config)
    if not cache.enabled:
        say(f"{WHAT_A_TEACHER_IS} Not cached (--no-cache): building it now.")
        return _build(data, clusters, seed, config, x_hash, key, progress)
    root = cache.root()
    entry = cache_module.entry_dir(root, key)
    if not cache_module.is_complete(entry):
        waiting = lambda lock: say(f"teacher: another process is building this teacher (it holds {lock}); "  # noqa: E731
                                   "waiting to reuse it")
        with cache_module.build_lock(root, key, on_wait=waiting):
            if not cache_module.is_complete(entry):  # nobody finished it while we waited for the lock
                say(f"{WHAT_A_TEACHER_IS} Not in the cache: building it now, to be cached at {entry}.")
                if entry.exists():  # damaged by hand: files missing
                    shutil.rmtree(entry)
                cache_module.remove_stale_temporaries(entry)
                teacher = _build(data, clusters, seed, config, x_hash, key, progress)
                arrays = {"responsibilities": teacher.responsibilities, "embedding": teacher.embedding,
                          "manifold": teacher.manifold}
                cache_module.write_entry(entry, teacher.metadata, arrays, teacher.weights)
                teacher.path, teacher.source = entry, "built"
                return teacher
    teacher = load_teacher(entry)
    meta = teacher.metadata
    features = meta.get("features") or {}
    trained = (f"{meta['autoencoder']['epochs']} autoencoder epochs, " if meta.get("autoencoder") else "")
    say(f"teacher: found in the cache at {entry} (built {meta.get('created')}, {features.get('kind')} features, "
        f"{'centred' if features.get('centre') == 'mass' else 'uncentred'} images, {trained}{meta.get('seconds', {}).get('total', 0):.0f} s to build)")
    return teacher


def announcer(progress: bool) -> Callable[[str], None]:
    """Where the build says what it does: stderr through tqdm (bars stay intact); nothing when quiet."""
    if not progress:
        return lambda _message: None
    return lambda message: tqdm.write(message, file=sys.stderr)


def autoencoder_plan(n: int, config: TeacherConfig) -> str:
    """What stops the teacher's autoencoder on ``n`` images, in words: the plateau rule and its cap.

    It is the honest forecast: the rule needs a full window before it can stop, the cap is a
    bound that the rule usually ends far sooner; the bar counts epochs against that cap.
    """
    rule = config.plateau_rule(n)
    return (f"autoencoder: stops once its best loss improved by at most {rule.tolerance:.0%} over "
            f"{rule.window} epochs (about plateau_steps={config.plateau_steps} Adam steps), so after at least "
            f"{rule.window + 1} epochs; at most {rule.max_epochs} epochs (max_steps={config.max_steps}); "
            "change either with --teacher-option. --epochs bounds the method's own training, not this "
            "autoencoder.")


def _build(data: Dataset, clusters: int, seed: int, config: TeacherConfig, x_hash: str, key: str,
           progress: bool) -> Teacher:
    say = announcer(progress)
    if config.features == "autoencoder":
        say(autoencoder_plan(len(data.x_train), config))
    t_start = time.perf_counter()
    features = teacher_features(data, clusters, seed, config, progress=progress, say=say)
    embedding = features.embedding
    say(f"umap + gmm: {len(embedding)} images, {config.umap_neighbors} neighbours, {config.gmm_restarts} GMM "
        "restarts (no progress bar)")
    fit = pseudo_labels(embedding, clusters, seed, config)
    say(f"umap: {fit.seconds['umap']:.0f} s, gmm: {fit.seconds['gmm']:.0f} s, {config.gmm_restarts} restarts, "
        f"log-likelihood {fit.log_likelihood:.3f}")
    metadata = {
        "key": key, "data_hash": x_hash, "data_name": data.name, "n_train": len(data.x_train),
        "n_pixels": int(data.x_train.shape[1]), "clusters": clusters, "seed": seed, "config": config.as_dict(),
        "bitcluster_version": bitcluster.__version__, "torch_threads": torch.get_num_threads(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": {"features": features.record["seconds"], **fit.seconds, "total": time.perf_counter() - t_start},
        "features": {k: v for k, v in features.record.items() if k not in ("autoencoder", "seconds")},
        "autoencoder": _autoencoder_record(features.record["autoencoder"]),
        "gmm_log_likelihood": fit.log_likelihood,
        "train_scores": _scores(data.y_train, fit.responsibilities.argmax(axis=1)),
    }
    model = features.autoencoder
    weights = {} if model is None else {k: v.detach().clone() for k, v in model.state_dict().items()}
    return Teacher(fit.responsibilities, embedding, fit.manifold, metadata, weights)


def _autoencoder_record(record: dict | None) -> dict | None:
    """What the metadata keeps of the autoencoder's training (None when the features are PCA's)."""
    if record is None:
        return None
    return {k: record[k] for k in ("epochs", "steps", "batch_size", "stop_reason", "window_epochs", "max_epochs",
                                   "losses", "seconds")}


def _scores(labels: np.ndarray | None, clusters: np.ndarray) -> dict[str, float] | None:
    """Train ACC and NMI of the pseudo-labels when the data has labels: a report, never a choice."""
    if labels is None:
        return None
    from sklearn.metrics import normalized_mutual_info_score

    return {"acc": cluster_accuracy(labels, clusters), "nmi": float(normalized_mutual_info_score(labels, clusters))}
