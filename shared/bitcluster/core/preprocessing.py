"""Image preprocessing: the one definition used by training and by the vendor service.

Images arrive as grey (N, H, W) or RGB (N, H, W, 3) arrays, uint8 in 0..255 or float in [0, 1],
and leave as float32 (N, height * width * channels) in [0, 1]: each image's pixels in HWC order,
flattened (row by row, and R, G, B within a pixel of an RGB model). They are resized with PIL's
bilinear filter when the size differs, and converted between grey and RGB by the one rule of
:mod:`bitcluster.core.channels` when the model has the other number of channels (the callers
say so: :meth:`Preprocessing.conversion`). A model trained on centred images (``centre="mass"``)
has every image shifted to its centre of mass last (:mod:`bitcluster.core.centring`).

Only a change of scale is silent: images of another aspect ratio would come out stretched, so
they are refused unless the caller opts in (``any_aspect_ratio=True`` here; ``resize=True`` in the
Python API, ``--resize`` on the command line, ``?resize=true`` on the vendor's ``POST /v1/encode``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from bitcluster.core.centring import centre_by_mass, check_centre
from bitcluster.core.channels import GREY, RGB, channels_of, check_channels, conversion, is_image_batch, to_channels


class ImageFormatError(ValueError):
    """Raised for images that cannot be preprocessed (shape, dtype, range, NaN)."""


@dataclass(frozen=True)
class Preprocessing:
    """How raw images become the encoder's input vector: their size, channels (1 grey, 3 RGB) and centring.

    The vector of an image is its (height, width, channels) pixels flattened in that order (HWC):
    ``x.reshape(N, height, width, channels)`` gives the images back (:meth:`images`). ``centre``
    is ``none`` or ``mass`` (each image shifted to the centre of mass of its ink). A manifest or
    run written before colour models has no ``channels``: it reads as 1; one written before
    centring has no ``centre``: it reads as ``none``.
    """

    height: int
    width: int
    resize: str = "bilinear"
    channels: int = GREY
    centre: str = "none"

    def __post_init__(self):
        check_channels(self.channels)
        check_centre(self.centre)

    @property
    def n_pixels(self) -> int:
        """The length of the input vector: height * width * channels."""
        return self.height * self.width * self.channels

    @property
    def image_shape(self) -> tuple[int, ...]:
        """One image's array shape: (height, width) grey, (height, width, 3) RGB."""
        return (self.height, self.width) + ((RGB,) if self.channels == RGB else ())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(height=int(d["height"]), width=int(d["width"]), resize=str(d.get("resize", "bilinear")),
                   channels=int(d.get("channels", GREY)), centre=str(d.get("centre", "none")))

    def describe(self) -> str:
        """``32x32 grey``, ``32x32 RGB`` or ``32x32 grey, centred``: the images the model takes, for messages."""
        return (f"{self.height}x{self.width} {'RGB' if self.channels == RGB else 'grey'}"
                + (", centred" if self.centre == "mass" else ""))

    def same_images(self, other: "Preprocessing") -> bool:
        """Whether ``other`` makes images of this size and these channels (centred or not)."""
        return (self.height, self.width, self.channels) == (other.height, other.width, other.channels)

    def conversion(self, images: np.ndarray) -> str | None:
        """How :meth:`apply` converts a (N, H, W) or (N, H, W, 3) batch: ``grey_to_rgb``, ``rgb_to_grey`` or None."""
        return conversion(channels_of(np.asarray(images)), self.channels)

    def apply(self, images: np.ndarray, *, any_aspect_ratio: bool = False) -> np.ndarray:
        """Preprocess a batch.

        Parameters
        ----------
        images : (N, H, W) grey or (N, H, W, 3) RGB, uint8 in 0..255 or float in [0, 1]; the other
            kind than the model's is converted by the rule of :mod:`bitcluster.core.channels`
            (:meth:`conversion` says whether it will be: the caller reports it)
        any_aspect_ratio : resize images whose aspect ratio differs from (height, width) too,
            stretching them; by default they raise :class:`ImageFormatError`

        Returns
        -------
        (N, height * width * channels) float32 in [0, 1], HWC order, centred when ``centre`` says so
        """
        x = to_channels(to_unit_float(images), self.channels)
        if x.shape[1:3] != (self.height, self.width):
            if not any_aspect_ratio:
                self.check_aspect_ratio(x.shape[1], x.shape[2])
            x = resize_images(x, self.height, self.width)
        if self.centre == "mass":
            x = centre_by_mass(x)
        return x.reshape(len(x), -1)

    def centred(self, centre: str, x: np.ndarray) -> tuple["Preprocessing", np.ndarray]:
        """This preprocessing with ``centre`` set, and input vectors ``x`` (N, n_pixels) of it made so.

        ``x`` must come from a preprocessing that does not centre (:meth:`apply` of this one with
        ``centre="none"``): centring twice is refused, as is undoing it.
        """
        if centre == self.centre:
            return self, x
        if self.centre != "none":
            raise ValueError(f"these images are already centred ({self.centre}): they cannot be made {centre!r}")
        target = replace(self, centre=centre)
        return target, centre_by_mass(self.images(x)).reshape(np.shape(x))

    def images(self, x: np.ndarray) -> np.ndarray:
        """Input vectors (N, n_pixels) back as images: (N, height, width) grey or (N, height, width, 3) RGB."""
        return np.asarray(x).reshape(-1, *self.image_shape)

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
    """Validate a (N, H, W) grey or (N, H, W, 3) RGB batch and scale it to float32 in [0, 1]."""
    x = np.asarray(images)
    if not is_image_batch(x):
        raise ImageFormatError(f"images must be a (N, H, W) grey or (N, H, W, 3) RGB batch, got shape {x.shape}")
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
    """Bilinear resize of a float32 (N, H, W) or (N, H, W, C) batch with PIL, channel by channel, clipped to [0, 1]."""
    from PIL import Image

    out = np.empty((len(x), height, width) + x.shape[3:], dtype=np.float32)
    planes, out_planes = (x[..., None], out[..., None]) if x.ndim == 3 else (x, out)
    for i in range(len(x)):
        for c in range(planes.shape[3]):
            plane = np.ascontiguousarray(planes[i, :, :, c])
            out_planes[i, :, :, c] = np.asarray(Image.fromarray(plane, mode="F").resize((width, height),
                                                                                       Image.BILINEAR))
    return np.clip(out, 0.0, 1.0, out=out)
