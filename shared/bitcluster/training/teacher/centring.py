"""Where an image's ink is, taken out: each image shifted so that its centre of mass sits mid-frame.

Clusters of an image set are usually of *what* is drawn, not *where*. A representation of raw
pixels (PCA, an autoencoder) spends most of its variance on position when objects move about the
frame, and UMAP then groups images by place. Shifting each image by its centre of mass (the
canonicalisation MNIST's makers applied to every digit) removes translation without labels and
without training; on images already centred (MNIST) it changes next to nothing. The teacher alone
sees centred images: the student still learns from the images as they are.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bitcluster.core.preprocessing import Preprocessing


def centre_by_mass(x: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """Each image of ``x`` shifted (bilinear, zeros shifted in) to put its centre of mass mid-frame.

    Parameters
    ----------
    x : (N, P) float32 images in [0, 1], laid out as ``preprocessing`` says (height x width [x channels])
    preprocessing : the images' shape

    Returns
    -------
    (N, P) float32; an image without ink (nothing above its median) is returned as it is
    """
    height, width = preprocessing.height, preprocessing.width
    images = np.asarray(x, dtype=np.float32).reshape(len(x), height, width, preprocessing.channels)
    # Ink is what stands above the image's background (its median), weighted by its square: faint
    # noise spread over a large background would otherwise pull every centre towards mid-frame.
    grey = images.sum(axis=3)                                                   # (N, H, W)
    mass = np.clip(grey - np.median(grey.reshape(len(x), -1), axis=1)[:, None, None], 0.0, None) ** 2
    total = mass.sum(axis=(1, 2))                                               # (N,)
    rows = (mass.sum(axis=2) * np.arange(height)).sum(axis=1)
    cols = (mass.sum(axis=1) * np.arange(width)).sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    shift_rows = np.where(total > 0, (height - 1) / 2 - rows / safe, 0.0)
    shift_cols = np.where(total > 0, (width - 1) / 2 - cols / safe, 0.0)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        out[i] = ndimage.shift(image, (shift_rows[i], shift_cols[i], 0), order=1, mode="constant", cval=0.0)
    return out.reshape(len(x), -1)
