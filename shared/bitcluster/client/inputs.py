"""A batch job's inputs: image files, directories of them, and ``.npz`` arrays, each with a stable id.

An input's id is its resolved absolute path (``/abs/dir/name.png`` for a directory's files) or
``path[i]`` for the i-th image of an array: however a path is typed (``./a.png``, ``a.png``, its
absolute path, through a symbolic link), the same file gets the same id on every run, which is
what lets a rerun skip the inputs already done.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from bitcluster.core.channels import is_image_batch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
NPZ_IMAGE_KEYS = ("x", "x_test")  # the first one present is clustered
# Image files (sent as files) or an (N, H, W) grey or (N, H, W, 3) RGB array (sent as pixels).
Images = Union[list[Path], np.ndarray]


class InputError(ValueError):
    """An input path that is neither an image file, a directory of them, nor a usable ``.npz``."""


@dataclass
class InputGroup:
    """Inputs sent in the same requests: image files, or the (N, H, W) or (N, H, W, 3) images of one ``.npz``."""

    ids: list[str]
    images: Images

    def take(self, positions: list[int]) -> Images:
        if isinstance(self.images, np.ndarray):
            return self.images[positions]
        return [self.images[i] for i in positions]


@dataclass
class Chunk:
    """One request's worth of inputs still to do, with their ids."""

    ids: list[str]
    images: Images


def load_npz_images(path: Path) -> np.ndarray:
    """The images of a ``.npz`` (key ``x``, else ``x_test``) as grey (N, H, W) or RGB (N, H, W, 3); flat square
    grey images are reshaped."""
    try:
        with np.load(path, allow_pickle=False) as f:
            key = next((k for k in NPZ_IMAGE_KEYS if k in f), None)
            if key is None:
                raise InputError(f"{path} has neither 'x' nor 'x_test' (it has {sorted(f.files)})")
            x = f[key]
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise InputError(f"{path} cannot be read as an .npz file ({e})") from None
    if x.ndim == 2 and round(x.shape[1] ** 0.5) ** 2 == x.shape[1]:
        side = round(x.shape[1] ** 0.5)
        x = x.reshape(len(x), side, side)  # flat square images
    if not is_image_batch(x):
        raise InputError(f"{path}:{key} must be (N, H, W) grey, (N, H, W, 3) RGB or (N, H*W) square grey images, "
                         f"got {x.shape}")
    return x


def collect_inputs(paths: Sequence[Path]) -> list[InputGroup]:
    """The command line's inputs, in order, as groups: each run of image files, then each ``.npz``."""
    groups: list[InputGroup] = []
    files: list[Path] = []

    def flush() -> None:
        if files:
            groups.append(InputGroup([str(p) for p in files], list(files)))
            files.clear()

    for path in (Path(p).resolve() for p in paths):
        if path.suffix.lower() == ".npz":
            flush()
            x = load_npz_images(path)
            groups.append(InputGroup([f"{path}[{i}]" for i in range(len(x))], x))
        elif path.is_dir():
            found = sorted(p.resolve() for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{path} holds no {'/'.join(IMAGE_SUFFIXES)} files")
            files += found
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            files.append(path)
        else:
            raise InputError(f"{path}: expected PNG/JPEG files, a directory of them, or a .npz")
    flush()
    return groups


def all_ids(groups: Sequence[InputGroup]) -> set[str]:
    return {i for g in groups for i in g.ids}


def plan_chunks(groups: Sequence[InputGroup], done: set[str], chunk_size: int) -> tuple[list[Chunk], int]:
    """The chunks still to do, in input order, and how many inputs repeat an earlier input's id.

    An id given twice (the same file named twice, or a file and its directory) gets one result.
    """
    given, repeats, chunks = set(), 0, []
    for group in groups:
        todo = []
        for i, input_id in enumerate(group.ids):
            if input_id in given:
                repeats += 1
                continue
            given.add(input_id)
            if input_id not in done:
                todo.append(i)
        for start in range(0, len(todo), chunk_size):
            positions = todo[start:start + chunk_size]
            chunks.append(Chunk([group.ids[i] for i in positions], group.take(positions)))
    return chunks, repeats
