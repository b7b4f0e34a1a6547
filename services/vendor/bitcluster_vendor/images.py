"""Turning request payloads into the encoder's input, with the checks that keep it safe.

Every image's size is read from its header (:func:`bitcluster.api.images.open_image`) and checked
against ``max_image_pixels``, and their sum against ``max_request_pixels``, before a single pixel
is decoded; so is the model input the batch becomes (:func:`check_model_input`). The images are
then decoded one at a time by the shared decoder (:func:`bitcluster.api.images.decode_image`,
large images shrunk while decoded) straight into the (N, P) float32 input, so a request never
holds more than one decoded image. Grey files for an RGB
model and colour files for a grey one are converted by the preprocessing's one rule
(:mod:`bitcluster.core.channels`), and counted: the answer says how many.

The limits count pixels (H * W) of files, as Pillow decodes them whatever their mode, and numbers
(N * H * W * channels) of a JSON batch; the default per-image cap follows the model's height *
width, not its input length. The model's channels count once, in the (N, P) float32 input the
whole batch becomes: N * height * width * channels values, held at once whatever the images'
sizes, three times as many for an RGB model, within ``max_request_pixels`` too.
No HTTP here: refusals are domain errors (:class:`~bitcluster.api.images.ImageFileError`,
:class:`~bitcluster.api.images.ImageTooLargeError`, ``ImageFormatError``) that
:mod:`bitcluster.serving.errors` answers. Messages name the item (``images[3]``), never its
content, and the setting that raises a limit.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import onnxruntime as ort

from bitcluster.api.images import ImageFileError, ImageTooLargeError, check_image_size, decode_image, open_image
from bitcluster.core.cancellation import raise_if_cancelled
from bitcluster.core.channels import is_image_batch
from bitcluster.core.preprocessing import ImageFormatError, Preprocessing

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
        raise ImageFileError(f"{name} is not valid base64", reason="invalid_base64") from None


def source_bytes(source: ImageSource) -> bytes:
    name, data = source
    return decode_base64(data, name) if isinstance(data, str) else data


def check_request_pixels(total: int, max_pixels: int, what: str, unit: str = "pixels") -> None:
    if total > max_pixels:
        raise ImageTooLargeError(f"{what} hold {total} {unit}; at most {max_pixels} are accepted per request: "
                                 "split the batch (or raise BITCLUSTER_MAX_REQUEST_PIXELS on the service)",
                                 reason="request_too_large")


def check_model_input(count: int, preprocessing: Preprocessing, max_values: int) -> None:
    """Refuse a batch of ``count`` images whose (count, P) float32 model input would hold more than
    ``max_values`` values (P = height * width * channels), before any is decoded.

    The input is held whole while the images are decoded into it and while the encoder runs, whatever
    the images' own sizes: a thousand 1x1 files make as large an input as a thousand photos.
    """
    check_request_pixels(count * preprocessing.n_pixels, max_values,
                         f"{count} images, as the model's {preprocessing.describe()} input "
                         f"({preprocessing.n_pixels} values each),", unit="values")


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


def images_to_input(sources: Sequence[ImageSource], preprocessing: Preprocessing, limits: ImageLimits,
                    resize: bool, run_options: ort.RunOptions) -> tuple[np.ndarray, int]:
    """Image files -> the encoder's (N, P) float32 input, decoded one at a time, and how many were
    converted between grey and RGB to match the model.

    Stops between images once the request has timed out (:func:`raise_if_cancelled`).
    """
    check_model_input(len(sources), preprocessing, limits.max_request_pixels)
    check_headers(sources, limits, preprocessing, resize)
    out = np.empty((len(sources), preprocessing.n_pixels), dtype=np.float32)
    converted = 0
    for i, source in enumerate(sources):
        raise_if_cancelled(run_options)
        image = decode_image(source_bytes(source), source[0], preprocessing)[None]
        converted += preprocessing.conversion(image) is not None
        # The aspect ratio was checked on the declared size; shrinking may have moved it a little.
        out[i] = preprocessing.apply(image, any_aspect_ratio=True)[0]
    return out, converted


def check_json_numbers(body: bytes, max_numbers: int) -> None:
    """Refuse a JSON body that may hold more than ``max_numbers`` pixel values, before parsing it.

    A JSON (N, H, W) or (N, H, W, 3) array of numbers has one comma fewer than numbers, so the
    commas bound the numbers from above (an RGB pixel counts three); bodies of image files hold
    about two per image.
    """
    numbers = body.count(b",") + 1
    if numbers > max_numbers:
        raise ImageTooLargeError(f"the JSON body holds up to {numbers} pixel values; at most {max_numbers} are "
                                 "accepted as JSON: send PNG files (multipart), split the batch (or raise "
                                 "BITCLUSTER_MAX_JSON_PIXELS on the service)", reason="too_many_pixels")


def pixels_to_batch(pixels: list, limits: ImageLimits) -> np.ndarray:
    """A JSON (N, H, W) grey or (N, H, W, 3) RGB array -> uint8 (integers 0..255) or float64 (numbers with a
    fraction, in [0, 1]).

    JSON integers mean 8-bit grey levels and numbers written with a decimal point mean [0, 1]:
    what ``json.dumps(array.tolist())`` writes for a uint8 and for a float array. A batch of whole
    numbers some of which exceed 1 (``239.0``) is read as grey levels too, as JSON reads it. The
    range of floats (and NaN) is checked by the shared preprocessing.
    """
    try:
        x = np.asarray(pixels)
    except ValueError:
        raise ImageFormatError("pixels must be a rectangular (N, H, W) or (N, H, W, 3) array: every image of a "
                               "batch the same size") from None
    if not is_image_batch(x) or x.dtype == object:
        raise ImageFormatError(f"pixels must be a rectangular (N, H, W) grey or (N, H, W, 3) RGB array, got shape "
                               f"{x.shape}")
    check_image_size(x.shape[1], x.shape[2], limits.max_image_pixels, "each image of pixels")
    check_request_pixels(x.size, limits.max_request_pixels, f"pixels of shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating) and np.isfinite(x).all() and x.max() > 1 and (x == np.floor(x)).all():
        # 239.0 is the integer 239 to JSON (and to JSON Schema): whole numbers past 1 are grey levels.
        x = x.astype(np.int64)
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise ImageFormatError("integer pixels must lie in 0..255 (or send floats in [0, 1])")
        return x.astype(np.uint8)
    return x
