"""What counts as images, and the one decoder of image files (the Python API's, bulk's, folders' and the vendor's).

``images`` may be an array: one grey (H, W) or RGB (H, W, 3) image, or a grey (N, H, W) or RGB
(N, H, W, 3) batch (uint8 0..255, other integers in 0..255, or float in [0, 1]; a 3-D array whose
last axis is 3 is one RGB image); a PNG/JPEG file (a path, or its bytes); or a list mixing those.
The in-process model decodes files here; the HTTP client sends them to the vendor as they are, and
the vendor decodes them with the same :func:`decode_image` (Pillow: grey files to 8-bit grey, the
others to 8-bit RGB). A file or array of the other kind than the model's is converted by the
preprocessing (:mod:`bitcluster.core.channels`, one rule for files and arrays), which the caller reports.

Decoding is safe on untrusted files: :func:`open_image` reads the header alone, so a size can be
checked (:func:`check_image_size`) before a pixel is decoded (a 16 kB PNG can declare 4096x4096
pixels). Given the model's preprocessing, an image far larger than the model needs is shrunk in 8
bits while decoded (JPEG: at 1/2 to 1/8 scale by ``Image.draft``; any format: ``Image.reduce``),
keeping at least :data:`KEEP_SIDES` times the model's side on each axis for the exact
preprocessing (each axis by its own factor when the image has another aspect ratio than the model:
:func:`reduction_factors`); smaller images take the exact path of training. Errors are domain
errors (:class:`ImageFileError`, :class:`ImageTooLargeError`), whose messages name the item, never
its content. Pillow is imported only when a file is decoded: the consumer, which shares the error
classes, never loads it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable, Union

import numpy as np

from bitcluster.core.channels import RGB, is_image_batch
from bitcluster.core.preprocessing import ImageFormatError, Preprocessing

ImageFile = Union[str, os.PathLike, bytes]
Images = Union[np.ndarray, ImageFile, Iterable[Union[np.ndarray, ImageFile]]]
# A run of the input, in order: an (n, H, W) or (n, H, W, 3) pixel batch, or image files still encoded.
ImageGroup = Union[np.ndarray, list]
IMAGE_FORMATS = ("PNG", "JPEG")
DECODING_ERRORS = (OSError, SyntaxError, ValueError)  # what Pillow's decoders raise on truncated or corrupt data
KEEP_SIDES = 4  # a large image is shrunk in 8 bits to no less than 4 times the model's height and width
# Pillow modes whose pixels are grey levels: decoded as 8-bit grey ("L"); every other mode (RGB, RGBA,
# palette, CMYK, YCbCr, ...) may carry colour and is decoded as 8-bit RGB.
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


class ImageFileError(ImageFormatError):
    """Image data that is not a decodable PNG or JPEG. ``reason`` says how: ``invalid_image``
    (another format, truncated or corrupt), ``invalid_base64`` or ``empty_image``."""

    def __init__(self, message: str, reason: str = "invalid_image"):
        super().__init__(message)
        self.reason = reason


class ImageTooLargeError(ImageFormatError):
    """More pixels than a limit allows, as declared before decoding. ``reason`` names the limit:
    ``image_too_large`` (one image), ``request_too_large`` (images together) or ``too_many_pixels``
    (pixel values sent as numbers)."""

    def __init__(self, message: str, reason: str = "image_too_large"):
        super().__init__(message)
        self.reason = reason


def _is_file(item: object) -> bool:
    return isinstance(item, (str, os.PathLike, bytes))


def as_pixel_batch(array: object) -> np.ndarray:
    """One image or a batch -> an (N, H, W) grey or (N, H, W, 3) RGB batch the preprocessing takes.

    An (H, W) array is one grey image, an (H, W, 3) array one RGB image (not a batch of images
    3 pixels wide), (N, H, W) and (N, H, W, 3) arrays are batches. Integer pixels other than uint8
    must lie in 0..255 and become uint8, as integers sent to the vendor in JSON do; floats are
    kept (their range is checked by the preprocessing).
    """
    x = np.asarray(array)
    if x.ndim == 2 or x.ndim == 3 and x.shape[2] == RGB:
        x = x[None]
    if not is_image_batch(x):
        raise ImageFormatError(f"an image must be an (H, W) grey or (H, W, 3) RGB array and a batch (N, H, W) or "
                               f"(N, H, W, 3), got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer) and x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ImageFormatError("integer pixels must lie in 0..255 (or pass floats in [0, 1])")
        x = x.astype(np.uint8)
    return x


def image_groups(images: Images) -> list[ImageGroup]:
    """Split ``images`` into runs, in order: pixel batches of one size each, and lists of files.

    Returns
    -------
    list whose items are (n, H, W) or (n, H, W, 3) arrays or lists of image files (paths or bytes); the counts
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


def open_image(data: bytes, name: str):
    """A PNG or JPEG file as a ``PIL.Image.Image``, its header read and no pixel decoded yet.

    Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) still refuses absurd sizes;
    the caller checks its own limit on ``image.size``.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageFileError(f"{name} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the caller's limit applies
            return Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"{name} declares too many pixels (a decompression bomb)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageFileError(f"{name} is not a PNG or JPEG image") from None


def check_image_size(height: int, width: int, max_pixels: int, name: str) -> None:
    if height * width == 0:
        raise ImageFileError(f"{name} has zero size ({width}x{height})", reason="empty_image")
    if height * width > max_pixels:
        raise ImageTooLargeError(f"{name} is {width}x{height} = {width * height} pixels; at most {max_pixels} "
                                 "are accepted per image (raise BITCLUSTER_MAX_IMAGE_PIXELS on the service)")


def reduction_factors(height: int, width: int, preprocessing: Preprocessing) -> tuple[int, int]:
    """The (x, y) factors by which :func:`decode_image` shrinks a decoded height x width image, in 8 bits.

    Each axis keeps at least :data:`KEEP_SIDES` times the model's side on it (a factor of 1 when it
    has no more). An image of the model's aspect ratio is shrunk by one factor on both axes, the
    smaller, so it keeps its ratio; one of another ratio (decoded only when the caller opted in to
    stretching) is shrunk by each axis's own factor, so a 1 x 4,194,304 strip becomes 1 x 32 for an
    8x8 model, not a full-size array that the preprocessing then resizes.
    """
    x = max(1, width // (KEEP_SIDES * preprocessing.width))
    y = max(1, height // (KEEP_SIDES * preprocessing.height))
    try:
        preprocessing.check_aspect_ratio(height, width)
    except ImageFormatError:
        return x, y
    return (min(x, y),) * 2


def decode_image(data: bytes, name: str, preprocessing: Preprocessing | None = None) -> np.ndarray:
    """A PNG or JPEG file -> (H, W) uint8 grey levels for a grey file, (H, W, 3) uint8 RGB for any other.

    A file is grey when its Pillow mode is (:data:`GREY_MODES`); the others (RGB, palette, CMYK,
    ...) decode as RGB whatever the model's channels: converting them is the preprocessing's one
    rule. Given the model's ``preprocessing``, an image far larger than the model is shrunk while
    decoded (see the module docstring); without it, decoded at full size.
    """
    with open_image(data, name) as image:
        mode = "L" if image.mode in GREY_MODES else "RGB"
        try:
            if preprocessing is None:
                return np.asarray(_in_mode(image, mode), dtype=np.uint8)
            keep = (KEEP_SIDES * preprocessing.width, KEEP_SIDES * preprocessing.height)
            if image.format == "JPEG" and min(image.width // keep[0], image.height // keep[1]) >= 2:
                image.draft(mode, keep)  # decoded at 1/2, 1/4 or 1/8 scale, still at least `keep`
            # Converted, then shrunk: Image.reduce refuses palette, 1-bit and 16-bit images, and shrinking RGBA,
            # LA, CMYK, YCbCr or 32-bit grey before converting them changes the pixels.
            decoded = _in_mode(image, mode)
            factors = reduction_factors(decoded.height, decoded.width, preprocessing)
            if max(factors) >= 2:
                decoded = decoded.reduce(factors)
            return np.asarray(decoded, dtype=np.uint8)
        except DECODING_ERRORS:
            raise ImageFileError(f"{name} could not be decoded (truncated or corrupt)") from None


def _in_mode(image, mode: str):
    """``image`` in Pillow ``mode``: itself when already in it (``convert`` would copy every pixel for nothing)."""
    return image if image.mode == mode else image.convert(mode)


def read_image_file(file: ImageFile) -> np.ndarray:
    """A PNG or JPEG file (path or bytes) -> (H, W) grey or (H, W, 3) RGB uint8, by :func:`decode_image` at full size.

    Raises :class:`ImageFormatError` (:class:`ImageFileError`, :class:`ImageTooLargeError`) for
    anything that is not a decodable PNG or JPEG: another format, a truncated or corrupt file, or
    one that declares more pixels than Pillow decodes (``PIL.Image.MAX_IMAGE_PIXELS``). A missing
    or unreadable path raises the ``OSError`` of opening it.
    """
    name = "an image given as bytes" if isinstance(file, bytes) else str(file)
    if not isinstance(file, bytes) and Path(file).is_dir():
        raise ImageFormatError(f"{name} is a directory: pass its image files (e.g. sorted(Path(...).glob('*.png')))")
    return decode_image(file if isinstance(file, bytes) else Path(file).read_bytes(), name)


def pixel_groups(images: Images) -> list[np.ndarray]:
    """``images`` as (n, H, W) or (n, H, W, 3) pixel batches in order, files decoded, consecutive images of one
    size and kind together."""
    decoded = []
    for group in image_groups(images):
        decoded.extend([group] if isinstance(group, np.ndarray) else [read_image_file(f)[None] for f in group])
    return image_groups(decoded)
