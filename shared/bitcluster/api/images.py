"""What the Python API takes as images, and how it turns them into pixel batches.

``images`` may be an (N, H, W) or (H, W) array (uint8 0..255, other integers in 0..255, or float
in [0, 1]), a PNG/JPEG file (a path, or its bytes), or a list mixing those. The in-process model
decodes files here; the HTTP client sends them to the vendor as they are, and the vendor decodes
them the same way (Pillow, converted to 8-bit grey), so both give the same codes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable, Union

import numpy as np

from bitcluster.core.preprocessing import ImageFormatError

ImageFile = Union[str, os.PathLike, bytes]
Images = Union[np.ndarray, ImageFile, Iterable[Union[np.ndarray, ImageFile]]]
# A run of the input, in order: an (n, H, W) pixel batch, or image files still encoded.
ImageGroup = Union[np.ndarray, list]
IMAGE_FORMATS = ("PNG", "JPEG")


def _is_file(item: object) -> bool:
    return isinstance(item, (str, os.PathLike, bytes))


def as_pixel_batch(array: object) -> np.ndarray:
    """One (H, W) image or an (N, H, W) batch -> an (N, H, W) array the preprocessing takes.

    Integer pixels other than uint8 must lie in 0..255 and become uint8, as integers sent to
    the vendor in JSON do; floats are kept (their range is checked by the preprocessing).
    """
    x = np.asarray(array)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ImageFormatError(f"an image must be an (H, W) array and a batch (N, H, W), got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer) and x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ImageFormatError("integer pixels must lie in 0..255 (or pass floats in [0, 1])")
        x = x.astype(np.uint8)
    return x


def image_groups(images: Images) -> list[ImageGroup]:
    """Split ``images`` into runs, in order: pixel batches of one size each, and lists of files.

    Returns
    -------
    list whose items are (n, H, W) arrays or lists of image files (paths or bytes); the counts
    add up to the number of images. Raises ``ValueError`` when there are none.
    """
    if isinstance(images, np.ndarray) or _is_file(images):
        items = [images]
    else:
        try:
            items = list(images)
        except TypeError:
            raise TypeError(f"images must be an array, a PNG/JPEG path, or a list of those; got "
                            f"{type(images).__name__}") from None
    runs: list[list] = []  # each run: image files, or pixel batches of one shape and dtype
    for item in items:
        entry = item if _is_file(item) else as_pixel_batch(item)
        if runs and _same_run(runs[-1][-1], entry):
            runs[-1].append(entry)
        else:
            runs.append([entry])
    groups = [run if _is_file(run[0]) else run[0] if len(run) == 1 else np.concatenate(run) for run in runs]
    groups = [g for g in groups if len(g)]
    if not groups:
        raise ValueError("no images given")
    return groups


def _same_run(previous: np.ndarray | ImageFile, entry: np.ndarray | ImageFile) -> bool:
    if _is_file(previous) or _is_file(entry):
        return _is_file(previous) and _is_file(entry)
    return previous.shape[1:] == entry.shape[1:] and previous.dtype == entry.dtype


def read_image_file(file: ImageFile) -> np.ndarray:
    """A PNG or JPEG file (path or bytes) -> (H, W) uint8 grey levels, as the vendor decodes it.

    Raises :class:`ImageFormatError` for anything that is not a decodable PNG or JPEG: another
    format, a truncated or corrupt file, or one that declares more pixels than Pillow decodes
    (its decompression-bomb limit, ``PIL.Image.MAX_IMAGE_PIXELS``). A missing or unreadable path
    raises the ``OSError`` of opening it.
    """
    from PIL import Image, UnidentifiedImageError

    name = "an image given as bytes" if isinstance(file, bytes) else str(file)
    if not isinstance(file, bytes) and Path(file).is_dir():
        raise ImageFormatError(f"{name} is a directory: pass its image files (e.g. sorted(Path(...).glob('*.png')))")
    with io.BytesIO(file) if isinstance(file, bytes) else open(file, "rb") as stream:
        try:
            with Image.open(stream, formats=IMAGE_FORMATS) as image:
                return np.asarray(image.convert("L"), dtype=np.uint8)
        except Image.DecompressionBombError as e:
            raise ImageFormatError(f"{name} is refused as a decompression bomb: {e}") from None
        except UnidentifiedImageError:
            raise ImageFormatError(f"{name} is not a PNG or JPEG image") from None
        except (OSError, SyntaxError, ValueError) as e:  # Pillow's decoders: truncated or corrupt data
            raise ImageFormatError(f"{name} could not be decoded (truncated or corrupt): {e}") from None


def pixel_groups(images: Images) -> list[np.ndarray]:
    """``images`` as (n, H, W) pixel batches in order, files decoded, consecutive images of one size together."""
    decoded = []
    for group in image_groups(images):
        decoded.extend([group] if isinstance(group, np.ndarray) else [read_image_file(f)[None] for f in group])
    return image_groups(decoded)
