"""A folder of PNG/JPEG files as a training set: found recursively, decoded, brought to one size and channels.

Files are decoded by :func:`bitcluster.api.images.read_image_file`, the Python API's and the
vendor's decoder, so a model trained on a folder sees its images as the services will. Sizes and
channels are brought together by :class:`bitcluster.core.preprocessing.Preprocessing`, the
services' rule (grey <-> RGB by :mod:`bitcluster.core.channels`).

Grey or colour (``channels``): ``auto`` trains an RGB model when some file carries colour (a
pixel with R != G or G != B: a grey image saved as RGB does not), a grey one otherwise; ``1`` or
``3`` force it. Grey files in an RGB set, and colour files in a grey one, are converted with a
warning that names them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitcluster.api.images import read_image_file
from bitcluster.client.inputs import IMAGE_SUFFIXES
from bitcluster.core.channels import GREY, GREY_TO_RGB, RGB, RGB_TO_GREY, conversion_message, has_colour
from bitcluster.core.preprocessing import ImageFormatError, Preprocessing

log = logging.getLogger(__name__)
# How many unreadable, converted or stretched files a warning names before it only counts them.
NAMED_IN_WARNINGS = 5
# What a folder's images become: ``auto`` (RGB when some file carries colour), 1 (grey) or 3 (RGB).
FOLDER_CHANNELS = ("auto", str(GREY), str(RGB))


class FolderError(ValueError):
    """A folder that yields no training set; the message says what to do."""


@dataclass
class FolderImages:
    """The images of a folder at one size.

    Attributes
    ----------
    x : (N, H, W) grey or (N, H, W, 3) RGB float32 in [0, 1]
    y : (N,) int64 class of each image (its top sub-folder's rank in sorted order), or None
    class_names : the sub-folder of each class, or None
    paths : (N,) the file of each image, in the sorted order they were read
    """

    x: np.ndarray
    y: np.ndarray | None
    class_names: list[str] | None
    paths: list[Path]

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(int(self.x.shape[1]), int(self.x.shape[2]), channels=RGB if self.x.ndim == 4 else GREY)


def find_image_files(root: Path) -> list[Path]:
    """Every PNG/JPEG file under ``root``, sub-folders included, sorted by path (the same on every machine)."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_image_folder(root: str | Path, *, labels: bool = False, resize: bool = False,
                      channels: str = "auto") -> FolderImages:
    """Decode every image under ``root`` and bring them to one size and one number of channels.

    Parameters
    ----------
    labels : label each image by the name of its top sub-folder under ``root`` (``root/cat/a/1.png``
        is class ``cat``); every image must then lie in a sub-folder
    resize : resize images of other sizes than the most common one to it (stretching those of
        another aspect ratio, with a warning); without it several sizes raise :class:`FolderError`
    channels : ``auto``, ``1`` or ``3`` (:data:`FOLDER_CHANNELS`; see the module docstring)

    Files that cannot be decoded are skipped and listed in one warning; colour files of a grey
    set and grey files of an RGB set are converted (:mod:`bitcluster.core.channels`) with a
    warning. Raises :class:`FolderError` when no file is readable.
    """
    if channels not in FOLDER_CHANNELS:
        raise FolderError(f"channels are {', '.join(FOLDER_CHANNELS)}, not {channels!r}")
    root = Path(root)
    files = find_image_files(root)
    if not files:
        raise FolderError(f"{root} holds no {'/'.join(IMAGE_SUFFIXES)} files (sub-folders included)")
    images, paths, skipped = [], [], []
    for path in files:
        try:
            images.append(read_image_file(path))
            paths.append(path)
        except (ImageFormatError, OSError) as e:
            skipped.append(str(e))  # it names the file
    if skipped:
        log.warning("%s: skipped %d of %d files that could not be read: %s", root, len(skipped), len(files),
                    _named(skipped))
    if not images:
        raise FolderError(f"{root}: none of its {len(files)} image files could be read: {_named(skipped)}")
    colour = [p for p, image in zip(paths, images) if image.ndim == 3 and has_colour(image)]
    target = (RGB if colour else GREY) if channels == "auto" else int(channels)
    # Warned of: colour lost to grey, and grey files copied into RGB (an RGB file of grey pixels loses nothing).
    converted = colour if target == GREY else [p for p, image in zip(paths, images) if image.ndim == 2]
    if converted:
        log.warning("%s: %s: %s", root, conversion_message(len(converted), len(images),
                                                           RGB_TO_GREY if target == GREY else GREY_TO_RGB),
                    _named(converted))
    y, class_names = _folder_labels(root, paths) if labels else (None, None)
    return FolderImages(_one_size(root, images, paths, resize, target), y, class_names, paths)


def _named(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:NAMED_IN_WARNINGS])
    return shown + (f" and {len(items) - NAMED_IN_WARNINGS} more" if len(items) > NAMED_IN_WARNINGS else "")


def _folder_labels(root: Path, paths: list[Path]) -> tuple[np.ndarray, list[str]]:
    tops = [p.relative_to(root).parts for p in paths]
    loose = [p for p, parts in zip(paths, tops) if len(parts) < 2]
    if loose:
        raise FolderError(f"--labels folders: {len(loose)} image(s) lie directly in {root}, not in a class "
                          f"sub-folder: {_named(loose)}; move them into one or drop --labels folders")
    names = sorted({parts[0] for parts in tops})
    rank = {name: i for i, name in enumerate(names)}
    return np.array([rank[parts[0]] for parts in tops], dtype=np.int64), names


def _one_size(root: Path, images: list[np.ndarray], paths: list[Path], resize: bool, channels: int) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) float32 in [0, 1]: every image at the most common size (the larger on a tie)
    with ``channels`` channels."""
    sizes = Counter(image.shape[:2] for image in images)
    (height, width), _ = max(sizes.items(), key=lambda item: (item[1], item[0][0] * item[0][1]))
    others = [p for p, image in zip(paths, images) if image.shape[:2] != (height, width)]
    if others and not resize:
        counts = ", ".join(f"{h}x{w}: {n}" for (h, w), n in sizes.most_common())
        raise FolderError(f"{root} holds images of {len(sizes)} sizes (height x width: files {counts}), e.g. "
                          f"{_named(others)}: pass --resize (resize=True in Python) to resize them all to "
                          f"{height}x{width}, the most common size")
    target = Preprocessing(height, width, channels=channels)
    stretched = []
    for p, image in zip(paths, images):
        if image.shape[:2] != (height, width):
            try:
                target.check_aspect_ratio(*image.shape[:2])
            except ImageFormatError:
                stretched.append(f"{p} ({image.shape[0]}x{image.shape[1]})")
    if stretched:
        log.warning("%s: %d image(s) of another aspect ratio than %dx%d were stretched to it (--resize): %s",
                    root, len(stretched), height, width, _named(stretched))
    x = np.empty((len(images), *target.image_shape), dtype=np.float32)
    for i, image in enumerate(images):
        x[i] = target.images(target.apply(image[None], any_aspect_ratio=True))[0]
    return x
