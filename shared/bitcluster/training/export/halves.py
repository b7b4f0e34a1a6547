"""VAB's vendor half as a torch module: what :mod:`.onnx_file` traces into ``encoder.onnx``.

* :class:`VabEncoderHalf`: ``images`` (N, P) float32 -> ``g_a`` -> the deterministic code
  ``1[logit > 0]`` -> ``codes`` (N, ceil(D / 8)) uint8, packed in the graph;
* :func:`classifier_outputs`: the plain ``(N, K)`` log joint -> argmax, softmax and logsumexp tail.

VAB's consumer half (the BMM posterior) is in :mod:`.bmm_classifier`, the latent baselines'
halves in :mod:`.quantised_latent_halves`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bitcluster.training.export.bit_packing import PackBits
from bitcluster.training.nets.binary_concrete import deterministic_code


def classifier_outputs(log_joint: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``argmax_k`` (N,) int64, the normalised posterior (N, K) and ``logsumexp_k`` (N,) of a log joint (N, K)."""
    return log_joint.argmax(dim=1), torch.softmax(log_joint, dim=1), torch.logsumexp(log_joint, dim=1)


class VabEncoderHalf(nn.Module):
    """The vendor's half of VAB: images (N, P) float32 -> packed codes (N, ceil(D / 8)) uint8.

    Parameters
    ----------
    g_a : the trained encoder network, images (N, P) -> code logits (N, D); shared, not copied
    bits : D
    """

    def __init__(self, g_a: nn.Module, bits: int):
        super().__init__()
        self.g_a = g_a
        self.pack = PackBits(bits)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pack(deterministic_code(self.g_a(images)))

    @classmethod
    def from_layers(cls, layers: list[tuple[np.ndarray, np.ndarray]]) -> "VabEncoderHalf":
        """An MLP encoder (ReLU between layers) from ``[(W (out, in), b (out,)), ...]``, e.g. weights kept in numpy."""
        modules: list[nn.Module] = []
        for i, (w, b) in enumerate(layers):
            linear = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.as_tensor(np.asarray(w, dtype=np.float32)))
                linear.bias.copy_(torch.as_tensor(np.asarray(b, dtype=np.float32)))
            modules += [linear] if i == len(layers) - 1 else [linear, nn.ReLU()]
        return cls(nn.Sequential(*modules), int(layers[-1][0].shape[0]))

