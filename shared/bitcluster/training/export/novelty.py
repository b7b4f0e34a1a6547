"""The novelty reference of an export: the training codes scored by the consumer half being exported.

:func:`novelty_reference` takes the packed training codes (a refit has nothing else);
:func:`training_codes` makes them from the training images with the vendor half. Scoring with the
very module that is traced into ``classifier.onnx`` keeps the stored quantiles on the scale the
served ``log_likelihood`` output has.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bitcluster.core.novelty import NoveltyReference

# Rows per forward pass: bounds the (K, N) log joint and the float32 images held at once.
CHUNK = 8192


def _in_chunks(module: nn.Module, x: np.ndarray, output: int | None = None) -> np.ndarray:
    module.eval()
    parts = []
    with torch.no_grad():
        for i in range(0, len(x), CHUNK):
            out = module(torch.from_numpy(np.ascontiguousarray(x[i:i + CHUNK])))
            parts.append((out if output is None else out[output]).numpy())
    return np.concatenate(parts)


def training_codes(encoder_half: nn.Module, x_train: np.ndarray) -> np.ndarray:
    """Packed codes (N, B) uint8 of the training images (N, P) float32, as ``encoder.onnx`` makes them."""
    return _in_chunks(encoder_half, np.asarray(x_train, dtype=np.float32))


def novelty_reference(classifier_half: nn.Module, packed_codes: np.ndarray) -> NoveltyReference:
    """The quantiles of ``log_likelihood`` (the classifier half's third output) over the training codes.

    Parameters
    ----------
    classifier_half : the consumer half to be exported (codes -> clusters, posteriors, log_likelihood)
    packed_codes : (N, B) uint8, the codes of the training set
    """
    packed_codes = np.asarray(packed_codes, dtype=np.uint8)
    if packed_codes.ndim != 2 or len(packed_codes) == 0:
        raise ValueError(f"novelty needs the training codes as an (N, B) uint8 array, got shape {packed_codes.shape}")
    return NoveltyReference.from_scores(_in_chunks(classifier_half, packed_codes, output=2))
