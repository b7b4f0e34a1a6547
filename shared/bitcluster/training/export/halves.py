"""VAB's two halves as torch modules: what :mod:`.onnx_file` traces into ``encoder.onnx`` and ``classifier.onnx``.

* :class:`VabEncoderHalf`: ``images`` (N, P) float32 -> ``g_a`` -> the deterministic code
  ``1[logit > 0]`` -> ``codes`` (N, ceil(D / 8)) uint8, packed in the graph;
* :class:`BmmClassifierHalf`: ``codes`` -> the BMM log joint ``z @ W + b``
  (:func:`bitcluster.core.mixture.classifier_weights`) -> ``clusters`` (N,) int64 and
  ``posteriors`` (N, K) float32.

The latent baselines' halves are in :mod:`.latent_halves`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bitcluster.core.mixture import classifier_weights
from bitcluster.training.export.bit_packing import PackBits, PlaceValuedBits, place_valued_weights
from bitcluster.training.nets.binary_concrete import deterministic_code


def clusters_and_posteriors(log_joint: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``argmax_k`` (N,) int64 and the normalised posterior (N, K) of a log joint (N, K)."""
    return log_joint.argmax(dim=1), torch.softmax(log_joint, dim=1)


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


class BmmClassifierHalf(nn.Module):
    """The consumer's half of VAB: packed codes (N, ceil(D / 8)) uint8 -> clusters (N,), posteriors (N, K).

    Unpacking and the BMM's linear layer are one BitwiseAnd, one Cast and one MatMul
    (:class:`~bitcluster.training.export.bit_packing.PlaceValuedBits`).

    Parameters
    ----------
    log_pi : (K,) log mixing weights
    means : (K, D) Bernoulli means (clipped to ``[EPS, 1 - EPS]`` by ``classifier_weights``)
    """

    def __init__(self, log_pi: np.ndarray, means: np.ndarray):
        super().__init__()
        weights, bias = classifier_weights(log_pi, means)
        self.bits, self.clusters = weights.shape
        self.unpack = PlaceValuedBits()
        self.register_buffer("weights", torch.from_numpy(place_valued_weights(weights)))   # (8B, K)
        self.register_buffer("bias", torch.from_numpy(bias))                               # (K,)

    def log_joint(self, codes: torch.Tensor) -> torch.Tensor:
        """``log pi_k + log p(z | k)``: (N, K) float32."""
        return self.unpack(codes) @ self.weights + self.bias

    def forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return clusters_and_posteriors(self.log_joint(codes))
