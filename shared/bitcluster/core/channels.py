"""Grey and RGB images, and the one rule that converts between them.

An image is grey (one channel: (H, W), or (N, H, W) for a batch) or RGB (three channels, last:
(H, W, 3), or (N, H, W, 3)). A model takes one kind, its ``Preprocessing.channels``; an image of
the other kind is converted by this rule, and whoever converts says so (a
:class:`ChannelConversionWarning` in Python, ``converted`` in the vendor's answer, a count in the
bulk summary), never silently:

* grey -> RGB: the grey level is copied into R, G and B;
* RGB -> grey: the ITU-R 601-2 luma ``L = R * 299/1000 + G * 587/1000 + B * 114/1000``, the rule
  of Pillow's ``convert("L")`` (within one grey level of it on 8-bit images: Pillow rounds in
  fixed point), so a colour file converted by an image editor and the same pixels given as an
  array come out alike.

numpy only: both services and the training import it.
"""

from __future__ import annotations

import numpy as np

GREY = 1
RGB = 3
CHANNELS = (GREY, RGB)
GREY_TO_RGB = "grey_to_rgb"
RGB_TO_GREY = "rgb_to_grey"
# The one conversion an image can need to enter a model of so many channels.
CONVERSION_INTO = {GREY: RGB_TO_GREY, RGB: GREY_TO_RGB}
# The weights of R, G and B in the luma (ITU-R 601-2), in thousandths as Pillow documents them.
LUMA_WEIGHTS = np.array([299, 587, 114]) / 1000
RULES = {GREY_TO_RGB: "grey -> RGB copies the grey level into R, G and B",
         RGB_TO_GREY: "RGB -> grey is the ITU-R 601-2 luma L = R*299/1000 + G*587/1000 + B*114/1000, Pillow's "
                      "convert('L')"}


class ChannelConversionWarning(UserWarning):
    """Images were converted between grey and RGB to match the model's channels (see :data:`RULES`)."""


def check_channels(channels: int) -> int:
    if channels not in CHANNELS:
        raise ValueError(f"channels must be {GREY} (grey) or {RGB} (RGB), got {channels!r}")
    return int(channels)


def is_image_batch(x: np.ndarray) -> bool:
    """Whether ``x`` has the shape of a grey (N, H, W) or an RGB (N, H, W, 3) batch."""
    return x.ndim == 3 or x.ndim == 4 and x.shape[3] == RGB


def channels_of(batch: np.ndarray) -> int:
    """The channels of a batch: 1 for (N, H, W), 3 for (N, H, W, 3)."""
    return RGB if batch.ndim == 4 else GREY


def conversion(source: int, target: int) -> str | None:
    """The conversion from ``source`` to ``target`` channels: :data:`GREY_TO_RGB`, :data:`RGB_TO_GREY` or None."""
    return None if source == target else CONVERSION_INTO[target]


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """A float batch with ``channels`` channels, converted by the rule when it has the other number.

    Parameters
    ----------
    images : (N, H, W) grey or (N, H, W, 3) RGB, float
    channels : 1 or 3

    Returns
    -------
    (N, H, W) when ``channels`` is 1, (N, H, W, 3) when it is 3; ``images`` itself when it has them
    """
    if channels_of(images) == channels:
        return images
    if channels == RGB:
        return np.repeat(images[..., None], RGB, axis=-1)
    return (images @ LUMA_WEIGHTS.astype(images.dtype)).astype(images.dtype, copy=False)


def has_colour(image: np.ndarray) -> bool:
    """Whether an (H, W, 3) image is in colour: some pixel has R != G or G != B (grey files saved as RGB are not)."""
    return bool((image[..., 0] != image[..., 1]).any() or (image[..., 1] != image[..., 2]).any())


def conversion_message(count: int, total: int, rule: str) -> str:
    """What a warning says of ``count`` of ``total`` images converted by ``rule`` (a key of :data:`RULES`)."""
    source, target = ("grey", "RGB") if rule == GREY_TO_RGB else ("RGB", "grey")
    return f"{count} of {total} images were {source} and were converted to {target} ({RULES[rule]})"
