"""Where finished teachers live on disk, under what name, and how two builders share one.

An entry is a directory ``<cache>/teachers/<key>/`` holding ``metadata.json``,
``arrays.npz`` and ``autoencoder.safetensors`` (no pickle anywhere). It is written in a private
temporary directory and renamed into place, so an entry that exists is complete. Builders of the
same key take an exclusive ``flock`` on ``<key>.lock`` first: the second one waits, then finds the
entry and reuses it. The lock dies with its process, so a crashed build never blocks the next one;
the holder removes the lock file on the way out (see :func:`build_lock`), and one left by a
killed process is removed by the next build of that key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from bitcluster.data import cache_dir
from bitcluster.training.teacher.config import TeacherConfig

METADATA = "metadata.json"
ARRAYS = "arrays.npz"
WEIGHTS = "autoencoder.safetensors"


@dataclass(frozen=True)
class TeacherCache:
    """Where finished teachers are kept, passed to :func:`~bitcluster.training.teacher.build_teacher`.

    Attributes
    ----------
    directory : the cache root; None: :func:`default_cache_dir` (``$BITCLUSTER_CACHE_DIR`` honoured)
    enabled : False: neither read nor write the cache, always build
    """

    directory: Path | None = None
    enabled: bool = True

    def root(self) -> Path:
        return Path(self.directory) if self.directory is not None else default_cache_dir()


def default_cache_dir() -> Path:
    """bitcluster's cache root (:func:`bitcluster.data.cache_dir`): ``$BITCLUSTER_CACHE_DIR`` or the user cache dir."""
    return cache_dir()


def data_hash(x: np.ndarray) -> str:
    """sha256 of the training images' dtype, shape and bytes (hex)."""
    x = np.ascontiguousarray(x)
    h = hashlib.sha256(f"{x.dtype.str}{x.shape}".encode())
    h.update(memoryview(x).cast("B"))
    return h.hexdigest()


def cache_key(x_hash: str, clusters: int, seed: int, config: TeacherConfig) -> str:
    """The entry's name: a hash of the data's hash, K, the seed and every config field.

    ``precision`` enters only when it is not ``fp32``: an fp32 teacher keeps the key it had before
    the field existed, so the teachers cached then (all fp32) are still found.
    """
    fields = config.as_dict()
    if fields["precision"] == "fp32":
        del fields["precision"]
    spec = {"data": x_hash, "clusters": clusters, "seed": seed, "config": fields}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def teachers_dir(cache_dir: Path) -> Path:
    """Where the entries, their locks and their temporaries live: the parent of every :func:`entry_dir`."""
    return Path(cache_dir) / "teachers"


def entry_dir(cache_dir: Path, key: str) -> Path:
    return teachers_dir(cache_dir) / key


def decisions_dir(cache_dir: Path) -> Path:
    """Where :mod:`.centring` keeps its ``auto`` decisions (``<key>.json``), beside the teachers."""
    return Path(cache_dir) / "centring"


def is_complete(entry: Path) -> bool:
    return all((entry / name).is_file() for name in (METADATA, ARRAYS, WEIGHTS))


def lock_path(cache_dir: Path, key: str) -> Path:
    return entry_dir(cache_dir, key).with_suffix(".lock")


@contextlib.contextmanager
def build_lock(cache_dir: Path, key: str, on_wait: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold the exclusive lock of ``key`` (blocks while another process or thread holds it).

    ``on_wait(lock file)`` is called once before blocking, when another builder holds the lock.
    The holder unlinks the lock file before it lets go, so that no ``.lock`` outlives a build.
    Unlinking is safe only because every taker checks, once it holds the lock, that the file it
    locked is still the one at the path: a waiter that locked a file unlinked meanwhile starts
    again on the new one, so two builders never hold the same key. A SIGKILLed holder cannot
    unlink: its file stays, unlocked (the kernel dropped the lock), until the next build of the key.
    """
    path = lock_path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        f = open(path, "a+b")  # one open file per holder: flock then excludes threads too
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(path)
                on_wait = None
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        if _same_file(f, path):
            break
        f.close()  # the previous holder removed it while we waited: lock the file now at the path
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while holding it: see the docstring
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


@contextlib.contextmanager
def build_lock_if_free(cache_dir: Path, key: str) -> Iterator[bool]:
    """:func:`build_lock` without waiting: yields True holding the lock, False when a live build holds it.

    For maintenance (``bitcluster cache prune``): what it removes of ``key`` it removes holding the
    lock, so that no build is under way meanwhile. Held, it ends as :func:`build_lock` does (the lock
    file is unlinked), which is how a stale lock file of a killed build goes away.
    """
    path = lock_path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        f = open(path, "a+b")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            yield False
            return
        if _same_file(f, path):
            break
        f.close()  # its holder removed it between our open and our flock: lock the file now at the path
    try:
        yield True
    finally:
        path.unlink(missing_ok=True)  # while holding it: see build_lock
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


def lock_is_held(cache_dir: Path, key: str) -> bool:
    """Whether a live build holds the lock of ``key`` now; creates and removes nothing (``--dry-run``)."""
    try:
        f = open(lock_path(cache_dir, key), "rb")
    except FileNotFoundError:
        return False
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False


def _same_file(f, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(f.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def remove_stale_temporaries(entry: Path) -> None:
    """Remove what a killed writer of ``entry`` left (its ``.<key>.*`` temporary directories).

    Call it holding the entry's :func:`build_lock`: only the holder writes such a directory, so
    any that exists then belongs to a process that died (SIGKILL, SIGTERM) before cleaning up.
    """
    for leftover in entry.parent.glob(f".{entry.name}.*"):
        shutil.rmtree(leftover, ignore_errors=True)


def write_entry(entry: Path, metadata: dict, arrays: dict[str, np.ndarray], weights: dict) -> None:
    """Write the three files into a temporary sibling of ``entry`` and rename it into place."""
    from safetensors.torch import save_file

    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        np.savez(tmp / ARRAYS, **arrays)
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(tmp / WEIGHTS))
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True))
        os.rename(tmp, entry)  # atomic; fails if a complete entry is already there
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_entry(entry: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Metadata and arrays of a complete entry (weights are loaded on demand)."""
    metadata = json.loads((entry / METADATA).read_text())
    with np.load(entry / ARRAYS, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return metadata, arrays
