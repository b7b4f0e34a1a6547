"""Turning request payloads into the encoder's input, with the checks that keep it safe.

Image files are opened lazily: Pillow reads the header first, so every image's size is checked
against ``max_image_pixels``, and their sum against ``max_request_pixels``, before a single pixel
is decoded (a 16 kB PNG can declare 4096x4096 pixels). The images are then decoded one at a time
straight into the (N, P) float32 input, so a request never holds more than one decoded image.
An image far larger than the model needs is shrunk in 8 bits first (JPEG: decoded at 1/2 to 1/8
scale by ``Image.draft``; any format: ``Image.reduce``), keeping at least :data:`KEEP_SIDES` times
the model's side for the exact preprocessing; smaller images take the exact path of training.
Messages name the item (``images[3]``), never its content, and the setting that raises a limit.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import onnxruntime as ort
from PIL import Image, UnidentifiedImageError

from bitcluster.core.preprocessing import Preprocessing
from bitcluster.serving.errors import ServiceError
from bitcluster.serving.runtime import raise_if_cancelled

FORMATS = ("PNG", "JPEG")
KEEP_SIDES = 4  # an image is shrunk in 8 bits to no less than 4 times the model's height and width

# An image as the request carries it: its name and base64 text (JSON) or file bytes (multipart).
ImageSource = tuple[str, Union[str, bytes]]


@dataclass(frozen=True)
class ImageLimits:
    max_image_pixels: int
    max_request_pixels: int


def decode_base64(text: str, name: str) -> bytes:
    """Standard base64, optionally as a ``data:image/...;base64,`` URL."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ServiceError(422, "invalid_base64", f"{name} is not valid base64") from None


def source_bytes(source: ImageSource) -> bytes:
    name, data = source
    return decode_base64(data, name) if isinstance(data, str) else data


def check_image_size(height: int, width: int, max_pixels: int, name: str) -> None:
    if height * width == 0:
        raise ServiceError(422, "empty_image", f"{name} has zero size ({width}x{height})")
    if height * width > max_pixels:
        raise ServiceError(413, "image_too_large", f"{name} is {width}x{height} = {width * height} pixels; "
                                                   f"at most {max_pixels} are accepted per image (raise "
                                                   "BITCLUSTER_MAX_IMAGE_PIXELS on the service)")


def check_request_pixels(total: int, max_pixels: int, what: str) -> None:
    if total > max_pixels:
        raise ServiceError(413, "request_too_large", f"{what} hold {total} pixels; at most {max_pixels} are "
                                                     "accepted per request: split the batch (or raise "
                                                     "BITCLUSTER_MAX_REQUEST_PIXELS on the service)")


def open_image(data: bytes, name: str) -> Image.Image:
    """A PNG or JPEG file, its header read and no pixel decoded yet."""
    if not data:
        raise ServiceError(422, "invalid_image", f"{name} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise ServiceError(413, "image_too_large", f"{name} declares too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ServiceError(422, "invalid_image", f"{name} is not a PNG or JPEG image") from None


def check_headers(sources: Sequence[ImageSource], limits: ImageLimits, preprocessing: Preprocessing,
                  resize: bool) -> None:
    """Every image's declared size against the limits (and the model's aspect ratio), none decoded."""
    total = 0
    for i, source in enumerate(sources):
        name = source[0]
        with open_image(source_bytes(source), name) as image:
            width, height = image.size
        check_image_size(height, width, limits.max_image_pixels, name)
        total += height * width
        check_request_pixels(total, limits.max_request_pixels, f"the first {i + 1} images" if i else name)
        if not resize:
            preprocessing.check_aspect_ratio(height, width)


def decode_grey(data: bytes, name: str, preprocessing: Preprocessing) -> np.ndarray:
    """A PNG or JPEG file -> (H, W) uint8 grey levels (Pillow's 'L'), shrunk when far larger than the model."""
    keep = (KEEP_SIDES * preprocessing.width, KEEP_SIDES * preprocessing.height)
    with open_image(data, name) as image:
        try:
            if image.format == "JPEG" and min(image.width // keep[0], image.height // keep[1]) >= 2:
                image.draft("L", keep)  # decoded at 1/2, 1/4 or 1/8 scale, still at least `keep`
            grey = image.convert("L")
            factor = min(grey.width // keep[0], grey.height // keep[1])
            if factor >= 2:
                grey = grey.reduce(factor)
            return np.asarray(grey, dtype=np.uint8)
        except (OSError, SyntaxError, ValueError):
            raise ServiceError(422, "invalid_image", f"{name} could not be decoded (truncated or corrupt)") from None


def images_to_input(sources: Sequence[ImageSource], preprocessing: Preprocessing, limits: ImageLimits,
                    resize: bool, run_options: ort.RunOptions) -> np.ndarray:
    """Image files -> the encoder's (N, P) float32 input, decoded one at a time.

    Stops between images once the request has timed out (:func:`raise_if_cancelled`).
    """
    check_headers(sources, limits, preprocessing, resize)
    out = np.empty((len(sources), preprocessing.n_pixels), dtype=np.float32)
    for i, source in enumerate(sources):
        raise_if_cancelled(run_options)
        grey = decode_grey(source_bytes(source), source[0], preprocessing)
        # The aspect ratio was checked on the declared size; shrinking may have moved it a little.
        out[i] = preprocessing.apply(grey[None], any_aspect_ratio=True)[0]
    return out


def check_json_numbers(body: bytes, max_numbers: int) -> None:
    """Refuse a JSON body that may hold more than ``max_numbers`` pixel values, before parsing it.

    A JSON (N, H, W) array of numbers has one comma fewer than numbers, so the commas bound the
    numbers from above; bodies of image files hold about two per image.
    """
    numbers = body.count(b",") + 1
    if numbers > max_numbers:
        raise ServiceError(413, "too_many_pixels",
                           f"the JSON body holds up to {numbers} pixel values; at most {max_numbers} are accepted "
                           "as JSON: send PNG files (multipart), split the batch (or raise "
                           "BITCLUSTER_MAX_JSON_PIXELS on the service)")


def pixels_to_batch(pixels: list, limits: ImageLimits) -> np.ndarray:
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
    check_image_size(x.shape[1], x.shape[2], limits.max_image_pixels, "each image of pixels")
    check_request_pixels(x.size, limits.max_request_pixels, f"pixels of shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating) and np.isfinite(x).all() and x.max() > 1 and (x == np.floor(x)).all():
        # 239.0 is the integer 239 to JSON (and to JSON Schema): whole numbers past 1 are grey levels.
        x = x.astype(np.int64)
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise ServiceError(422, "invalid_pixels", "integer pixels must lie in 0..255 (or send floats in [0, 1])")
        return x.astype(np.uint8)
    return x
