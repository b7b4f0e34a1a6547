"""Turning request payloads into grey-scale pixel arrays, with the checks that keep it safe.

Image files are opened lazily: Pillow reads the header first, so the pixel count is checked
against ``max_image_pixels`` before a single pixel is decoded (a 50 kB PNG can claim 10^10
pixels). Messages name the item (``images[3]``), never its content.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from bitcluster.serving.errors import ServiceError

FORMATS = ("PNG", "JPEG")


def decode_base64(text: str, name: str) -> bytes:
    """Standard base64, optionally as a ``data:image/...;base64,`` URL."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ServiceError(422, "invalid_base64", f"{name} is not valid base64") from None


def check_image_size(height: int, width: int, max_pixels: int, name: str) -> None:
    if height * width == 0:
        raise ServiceError(422, "empty_image", f"{name} has zero size ({width}x{height})")
    if height * width > max_pixels:
        raise ServiceError(413, "image_too_large", f"{name} is {width}x{height} = {width * height} pixels; "
                                                   f"at most {max_pixels} are accepted per image")


def decode_image(data: bytes, max_pixels: int, name: str) -> np.ndarray:
    """A PNG or JPEG file -> (H, W) uint8 grey levels (Pillow's 'L' conversion)."""
    if not data:
        raise ServiceError(422, "invalid_image", f"{name} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise ServiceError(413, "image_too_large", f"{name} declares too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ServiceError(422, "invalid_image", f"{name} is not a PNG or JPEG image") from None
    with image:
        width, height = image.size
        check_image_size(height, width, max_pixels, name)
        try:
            return np.asarray(image.convert("L"), dtype=np.uint8)
        except (OSError, SyntaxError, ValueError):
            raise ServiceError(422, "invalid_image", f"{name} could not be decoded (truncated or corrupt)") from None


def pixels_to_batch(pixels: list, max_pixels: int) -> np.ndarray:
    """A JSON (N, H, W) array -> uint8 (integers 0..255) or float64 (numbers with a fraction, in [0, 1]).

    JSON integers mean 8-bit grey levels and numbers written with a decimal point mean [0, 1]:
    what ``json.dumps(array.tolist())`` writes for a uint8 and for a float array. A batch of whole
    numbers some of which exceed 1 (``239.0``) is read as grey levels too, as JSON reads it. The
    range of floats (and NaN) is checked by the shared preprocessing.
    """
    try:
        x = np.asarray(pixels)
    except ValueError:
        raise ServiceError(422, "invalid_pixels", "pixels must be a rectangular (N, H, W) array: "
                                                  "every image of a batch the same size") from None
    if x.ndim != 3 or x.dtype == object:
        raise ServiceError(422, "invalid_pixels", f"pixels must be a rectangular (N, H, W) array, got shape {x.shape}")
    check_image_size(x.shape[1], x.shape[2], max_pixels, "each image of pixels")
    if np.issubdtype(x.dtype, np.floating) and np.isfinite(x).all() and x.max() > 1 and (x == np.floor(x)).all():
        # 239.0 is the integer 239 to JSON (and to JSON Schema): whole numbers past 1 are grey levels.
        x = x.astype(np.int64)
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise ServiceError(422, "invalid_pixels", "integer pixels must lie in 0..255 (or send floats in [0, 1])")
        return x.astype(np.uint8)
    return x
