"""Which way round an image set is: light strokes on a dark background (as MNIST), or the reverse.

bitcluster's models learn from any images, but their codes and mixtures were designed and tuned on
light-on-dark digits, where the background is the zero that most pixels share; dark-on-light
images (scans, drawings on paper) are better inverted first. This module only tells them apart.
"""

from __future__ import annotations

import numpy as np

from bitcluster.core.channels import GREY, to_channels

# A background is light when the median pixel of the image's outer ring is above mid-grey.
LIGHT_BACKGROUND = 0.5
INVERT_ADVICE = ("bitcluster's models learn best from light strokes on a dark background, as in MNIST: invert "
                 "them (255 - x, or PIL.ImageOps.invert) before training and before encoding, the same way both times")


def light_background(images: np.ndarray) -> np.ndarray:
    """Which images have a light background: the median of their border pixels is above mid-grey.

    Parameters
    ----------
    images : (N, H, W) grey or (N, H, W, 3) RGB, float in [0, 1]; RGB is judged by its luma
        (:mod:`bitcluster.core.channels`)

    Returns
    -------
    (N,) bool
    """
    x = to_channels(np.asarray(images), GREY)
    if x.shape[1] < 3 or x.shape[2] < 3:  # no inside: every pixel is border
        border = x.reshape(len(x), -1)
    else:
        border = np.concatenate([x[:, 0, :], x[:, -1, :], x[:, 1:-1, 0], x[:, 1:-1, -1]], axis=1)
    return np.median(border, axis=1) > LIGHT_BACKGROUND


def polarity_warning(name: str, *batches: np.ndarray) -> str | None:
    """A warning naming ``name`` when most images of ``batches`` ((N, H, W) or (N, H, W, 3) in [0, 1] each) are
    dark on light.

    Returns None when they are not.
    """
    light = sum(int(light_background(x).sum()) for x in batches)
    total = sum(len(x) for x in batches)
    if light * 2 <= total:
        return None
    return (f"{name}: {light} of {total} images are dark on a light background (the median pixel of "
            f"their border is above {LIGHT_BACKGROUND}); {INVERT_ADVICE}")
