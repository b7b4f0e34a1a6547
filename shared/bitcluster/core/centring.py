"""Where an image's ink is, taken out: each image shifted so that its centre of mass sits mid-frame.

Clusters of an image set are usually of *what* is drawn, not *where*. A representation of raw
pixels (PCA, an autoencoder, a binary encoder) spends most of its capacity on position when objects
move about the frame. Shifting each image by its centre of mass (the canonicalisation MNIST's
makers applied to every digit) removes translation without labels and without training. It is a
step of :class:`~bitcluster.core.preprocessing.Preprocessing` (``centre="mass"``), so the teacher,
the student, the vendor and the Python API see the same centred images; whether a data set gets it
is decided when a model is trained (``bitcluster train --centring``).

numpy only: the vendor and the consumer's Python API run it without scipy.
"""

from __future__ import annotations

import numpy as np

# How images are centred: not at all, or by the centre of mass of their ink.
CENTRES = ("none", "mass")
# What a training run may ask for: one of them, or ``auto`` (decided per data set when it trains).
CENTRING = ("auto",) + CENTRES


def check_centre(centre: str) -> None:
    if centre not in CENTRES:
        raise ValueError(f"centre is one of {', '.join(CENTRES)}, not {centre!r}")


def centre_by_mass(images: np.ndarray) -> np.ndarray:
    """Each image shifted (bilinear, zeros shifted in) to put the centre of mass of its ink mid-frame.

    Ink is what stands above the image's background (its median grey level), weighted by its
    square: faint noise spread over a large background would otherwise pull every centre towards
    mid-frame. All channels of an RGB image move together.

    Parameters
    ----------
    images : (N, H, W) grey or (N, H, W, C) float images in [0, 1]

    Returns
    -------
    float32 of the same shape, in [0, 1]; an image without ink (nothing above its median) is
    returned as it is
    """
    x = np.asarray(images, dtype=np.float32)
    planes = x[..., None] if x.ndim == 3 else x                                 # (N, H, W, C)
    n, height, width = planes.shape[:3]
    if n == 0:
        return x.copy()
    grey = planes.sum(axis=3)                                                   # (N, H, W)
    mass = np.clip(grey - np.median(grey.reshape(n, -1), axis=1)[:, None, None], 0.0, None) ** 2
    total = mass.sum(axis=(1, 2))                                               # (N,)
    rows = (mass.sum(axis=2) * np.arange(height)).sum(axis=1)
    cols = (mass.sum(axis=1) * np.arange(width)).sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    shift_rows = np.where(total > 0, (height - 1) / 2 - rows / safe, 0.0)
    shift_cols = np.where(total > 0, (width - 1) / 2 - cols / safe, 0.0)
    out = np.empty_like(planes)
    for i in range(n):
        out[i] = shift_bilinear(planes[i], shift_rows[i], shift_cols[i])
    return out.reshape(x.shape)


def shift_bilinear(image: np.ndarray, rows: float, cols: float) -> np.ndarray:
    """``image`` (H, W, C) moved by (rows, cols) pixels, bilinear, zeros outside the frame.

    ``out[r, c] = image[r - rows, c - cols]``, interpolated between the four nearest pixels; a
    pixel that falls outside the frame counts as 0 (scipy's ``ndimage.shift(order=1,
    mode="grid-constant")``).
    """
    whole_rows, whole_cols = int(np.floor(rows)), int(np.floor(cols))
    frac_rows, frac_cols = rows - whole_rows, cols - whole_cols
    out = np.zeros_like(image)
    for dr, weight_r in ((whole_rows, 1.0 - frac_rows), (whole_rows + 1, frac_rows)):
        for dc, weight_c in ((whole_cols, 1.0 - frac_cols), (whole_cols + 1, frac_cols)):
            if weight_r * weight_c:
                out += np.float32(weight_r * weight_c) * _shift_whole(image, dr, dc)
    return np.clip(out, 0.0, 1.0, out=out)


def _shift_whole(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``image`` (H, W, C) moved by whole pixels, zeros shifted in."""
    height, width = image.shape[:2]
    out = np.zeros_like(image)
    if abs(rows) >= height or abs(cols) >= width:
        return out
    out[max(rows, 0):height + min(rows, 0), max(cols, 0):width + min(cols, 0)] = \
        image[max(-rows, 0):height + min(-rows, 0), max(-cols, 0):width + min(-cols, 0)]
    return out
