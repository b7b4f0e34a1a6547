"""Image preprocessing: the one definition used by training and by the vendor service.

Images arrive as (N, H, W) arrays, uint8 in 0..255 or float in [0, 1], and leave as float32
(N, height * width) in [0, 1], resized with PIL's bilinear filter when the size differs.

Only a change of scale is silent: images of another aspect ratio would come out stretched, so
they are refused unless the caller opts in (``any_aspect_ratio=True`` here; ``resize=True`` in the
Python API, ``--resize`` on the command line, ``?resize=true`` on the vendor's ``POST /v1/encode``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


class ImageFormatError(ValueError):
    """Raised for images that cannot be preprocessed (shape, dtype, range, NaN)."""


@dataclass(frozen=True)
class Preprocessing:
    """How raw grey-scale images become the encoder's input vector."""

    height: int
    width: int
    resize: str = "bilinear"

    @property
    def n_pixels(self) -> int:
        return self.height * self.width

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(height=int(d["height"]), width=int(d["width"]), resize=str(d.get("resize", "bilinear")))

    def apply(self, images: np.ndarray, *, any_aspect_ratio: bool = False) -> np.ndarray:
        """Preprocess a batch.

        Parameters
        ----------
        images : (N, H, W) uint8 in 0..255 or float in [0, 1]
        any_aspect_ratio : resize images whose aspect ratio differs from (height, width) too,
            stretching them; by default they raise :class:`ImageFormatError`

        Returns
        -------
        (N, height * width) float32 in [0, 1]
        """
        x = to_unit_float(images)
        if x.shape[1:] != (self.height, self.width):
            if not any_aspect_ratio:
                self.check_aspect_ratio(x.shape[1], x.shape[2])
            x = resize_images(x, self.height, self.width)
        return x.reshape(len(x), -1)

    def check_aspect_ratio(self, height: int, width: int) -> None:
        """Refuse an image size that resizing to (self.height, self.width) would stretch.

        The ratios count as equal when scaling the image to the model's height (or width) lands
        within half a pixel of the model's width (or height): 255x256 photos fit an 8x8 model, a
        28x32 image does not. Raises :class:`ImageFormatError` naming both shapes and the opt-in.
        """
        width_at_model_height = width * self.height / height
        height_at_model_width = height * self.width / width
        if abs(width_at_model_height - self.width) < 0.5 and abs(height_at_model_width - self.height) < 0.5:
            return
        raise ImageFormatError(
            f"images of {height}x{width} pixels (height x width) do not have the aspect ratio of the model's "
            f"{self.height}x{self.width} input: resizing would stretch them. Crop or pad them to that aspect "
            "ratio, or opt in to stretching: resize=True in Python, --resize on the command line, "
            "?resize=true on POST /v1/encode"
        )


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """Validate a (N, H, W) batch and scale it to float32 in [0, 1]."""
    x = np.asarray(images)
    if x.ndim != 3:
        raise ImageFormatError(f"images must be a (N, H, W) grey-scale batch, got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise ImageFormatError(f"empty image batch or zero-size images: shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise ImageFormatError(f"images must be uint8 or float, got {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ImageFormatError("images contain NaN or infinite values")
    if x.min() < 0.0 or x.max() > 1.0:
        raise ImageFormatError(
            f"float images must lie in [0, 1] (got {x.min():.3g}..{x.max():.3g}); pass uint8 for 0..255"
        )
    return x


def resize_images(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a float32 (N, H, W) batch with PIL, clipped back to [0, 1]."""
    from PIL import Image

    out = np.empty((len(x), height, width), dtype=np.float32)
    for i, img in enumerate(x):
        out[i] = np.asarray(Image.fromarray(img, mode="F").resize((width, height), Image.BILINEAR))
    return np.clip(out, 0.0, 1.0, out=out)
