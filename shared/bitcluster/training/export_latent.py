"""Export a latent-clustering baseline (ae-*, convae-*, vade, vc) as the vendor/consumer pair.

The vendor's encoder ends in a quantiser instead of VAB's binary code, so the consumer still
receives a short bit string:

* encoder: ``images`` (N, P) float32 -> network -> latent ``z`` (N, d) -> uniform quantiser with
  the range stored at training, ``level = clip(round((z - low) * scale), 0, 2^b - 1)`` -> each
  level's ``b`` bits, most significant first, dimension after dimension (code bit ``i * b + j`` is
  bit ``b - 1 - j`` of dimension ``i``'s level) -> ``codes`` (N, ceil(d b / 8)) uint8, packed as
  in :mod:`bitcluster.core.codes`;
* classifier: ``codes`` -> unpack -> levels -> ``z_hat = low + level * step`` -> the Gaussian
  mixture's ``log pi_k + log N(z_hat; mu_k, Sigma_k)`` -> ``clusters`` (N,) int64 (ArgMax) and
  ``posteriors`` (N, K) float32 (Softmax). The mixture is the method's (K-means as equal-weight
  isotropic Gaussians, VaDE's and vc's learned prior), widened by the quantisation noise
  (:func:`bitcluster.training.latent.quantised_mixture`), exactly as ``evaluate`` scores
  ``acc_quantised``.

Graphs are written with ``onnx.helper`` from the weights, like :mod:`bitcluster.training.export`.
``kdae`` and ``kdvae`` decide from every autoencoder's reconstruction of the raw image: they have
no latent to ship and are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from bitcluster.training.latent import GaussianMixtureParams, UniformQuantiser, check_bits_per_dim, quantised_mixture
from bitcluster.core.codes import code_bytes
from bitcluster.training.export import _finish, _packing_matrix, write_model_dir
from bitcluster.core.manifest import ModelManifest
from bitcluster.training.runs import METRICS, read_config, read_json

EXPORTABLE = ("ae-kmeans", "ae-gmm", "convae-kmeans", "convae-gmm", "vade", "vc")
NEEDS_RAW_IMAGE = ("kdae", "kdvae")


class _Graph:
    """Nodes and initializers collected while translating modules."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._names = 0

    def name(self, stem: str) -> str:
        self._names += 1
        return f"{stem}{self._names}"

    def const(self, stem: str, array: np.ndarray) -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, output: str | None = None, **attrs) -> str:
        out = output or self.name(stem or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _module(g: _Graph, module: nn.Module, h: str) -> str:
    """Append ``module`` (Sequential of Linear, ReLU, Conv2d, Flatten, Unflatten) applied to ``h``."""
    if isinstance(module, nn.Sequential):
        for child in module:
            h = _module(g, child, h)
        return h
    if isinstance(module, nn.Linear):
        return g.op("Gemm", [h, g.const("W", _f32(module.weight)), g.const("b", _f32(module.bias))], transB=1)
    if isinstance(module, nn.ReLU):
        return g.op("Relu", [h])
    if isinstance(module, nn.Conv2d):
        (kh, kw), (sh, sw), (ph, pw) = module.kernel_size, module.stride, module.padding
        return g.op("Conv", [h, g.const("K", _f32(module.weight)), g.const("c", _f32(module.bias))],
                    kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw])
    if isinstance(module, nn.Flatten):
        return g.op("Flatten", [h], axis=1)
    if isinstance(module, nn.Unflatten):
        return g.op("Reshape", [h, g.const("shape", np.array([-1, *module.unflattened_size], np.int64))])
    raise ValueError(f"cannot export a {type(module).__name__} layer")


def _latent(g: _Graph, method: str, state) -> str:
    """The method's latent (N, d) of ``images``."""
    if method.startswith(("ae-", "convae-")):
        return _module(g, state.autoencoder.g_a, "images")
    if method == "vade":
        return _module(g, state.model.q_z.mu, _module(g, state.model.q_z.g_a, "images"))
    if method == "vc":
        m = state.model
        h = _module(g, m.g_a, "images")
        q_c = g.op("Softmax", [_module(g, m.q_c, h)], axis=1)                                   # (N, K)
        mu = g.op("Reshape", [_module(g, m.q_z_mu, h), g.const("shape", np.array([-1, m.clusters, m.latent],
                                                                                   np.int64))])  # (N, K, d)
        weighted = g.op("Mul", [mu, g.op("Unsqueeze", [q_c, g.const("axis", np.array([2], np.int64))])])
        return g.op("ReduceSum", [weighted, g.const("axis", np.array([1], np.int64))], keepdims=0)  # sum_c q(c|x) m_c
    raise ValueError(f"{method!r} is not a latent-clustering method; exportable: {', '.join(EXPORTABLE)}")


def _level_places(d: int, b: int) -> np.ndarray:
    """(d b,) float32: the value code bit ``i b + j`` has in its dimension's level, ``2^(b - 1 - j)``."""
    return np.tile(2.0 ** np.arange(b - 1, -1, -1), d).astype(np.float32)


def _quantise_and_pack(g: _Graph, z: str, quantiser: UniformQuantiser, b: int) -> str:
    """Latent (N, d) -> levels -> their bits, MSB first, dimension after dimension -> packed (N, ceil(d b / 8)).

    ``level & 2^(b-1-j)`` is bit j times its place value; the packing matmul divides the place value
    back out (exact: powers of two), so no shift is needed, as in :func:`bitcluster.training.export.classifier_graph`.
    """
    d = len(quantiser.low)
    scaled = g.op("Mul", [g.op("Sub", [z, g.const("low", quantiser.low)]), g.const("scale", quantiser.scale(b))])
    level = g.op("Clip", [g.op("Round", [scaled]), g.const("zero", np.float32(0)),
                          g.const("top", np.float32(2**b - 1))])
    level3 = g.op("Unsqueeze", [g.op("Cast", [level], to=TensorProto.UINT8),
                                g.const("axis", np.array([2], np.int64))])                      # (N, d, 1)
    masks = (2 ** np.arange(b - 1, -1, -1)).astype(np.uint8)
    masked = g.op("BitwiseAnd", [level3, g.const("masks", masks)])                              # (N, d, b)
    flat = g.op("Reshape", [g.op("Cast", [masked], to=TensorProto.FLOAT),
                            g.const("shape", np.array([0, d * b], np.int64))])                  # (N, d b)
    pack = _packing_matrix(d * b) / _level_places(d, b)[:, None]
    # exact: each byte is a sum of distinct powers of two <= 255
    packed = g.op("MatMul", [flat, g.const("pack", pack.astype(np.float32))])
    return g.op("Cast", [packed], output="codes", to=TensorProto.UINT8)


def _unpack_and_dequantise(g: _Graph, quantiser: UniformQuantiser, b: int) -> str:
    """``codes`` (N, B) -> levels (one BitwiseAnd and one MatMul) -> ``z_hat = low + level * step`` (N, d).

    ``codes & 2^(7-p)`` is each bit times its place in the byte; the matmul's weight for code bit
    ``i b + j`` is ``2^(b-1-j) / 2^(7-p)`` into dimension ``i`` (zero for padding bits), which sums
    the level exactly.
    """
    d = len(quantiser.low)
    n_bits, nbytes = d * b, code_bytes(d * b)
    codes3 = g.op("Unsqueeze", ["codes", g.const("axis", np.array([2], np.int64))])            # (N, B, 1)
    masked = g.op("BitwiseAnd", [codes3, g.const("masks", (2 ** np.arange(7, -1, -1)).astype(np.uint8))])
    flat = g.op("Reshape", [g.op("Cast", [masked], to=TensorProto.FLOAT),
                            g.const("shape", np.array([0, nbytes * 8], np.int64))])             # (N, 8B)
    to_level = np.zeros((nbytes * 8, d), dtype=np.float32)
    i = np.arange(n_bits)
    to_level[i, i // b] = _level_places(d, b) / 2.0 ** (7 - i % 8)
    level = g.op("MatMul", [flat, g.const("to_level", to_level)])                              # (N, d)
    return g.op("Add", [g.op("Mul", [level, g.const("step", quantiser.step(b))]), g.const("low", quantiser.low)])


def _mixture_log_joint(g: _Graph, z: str, mixture: GaussianMixtureParams) -> str:
    """``log pi_k + log N(z; mu_k, Sigma_k)`` (N, K) as ``const_k - |z P_k - mu_k P_k|^2 / 2``.

    ``P_k`` is the Cholesky factor of the precision, ``P_k P_k^T = Sigma_k^-1``, upper triangular.
    """
    p = mixture.full_precision_cholesky()
    mu_p = np.einsum("kd,kde->ke", mixture.means, p)[:, None, :]                                # (K, 1, d)
    log_det = np.log(np.diagonal(p, axis1=1, axis2=2)).sum(axis=1)
    const = mixture.log_pi + log_det - 0.5 * mixture.dim * np.log(2 * np.pi)
    z3 = g.op("Unsqueeze", [z, g.const("axis", np.array([0], np.int64))])                      # (1, N, d)
    y = g.op("Sub", [g.op("MatMul", [z3, g.const("P", p.astype(np.float32))]), g.const("muP", mu_p.astype(np.float32))])
    sq = g.op("ReduceSum", [g.op("Mul", [y, y]), g.const("axis", np.array([2], np.int64))], keepdims=0)  # (K, N)
    half = g.op("Mul", [g.op("Transpose", [sq], perm=[1, 0]), g.const("minus_half", np.float32(-0.5))])
    return g.op("Add", [half, g.const("const", const.astype(np.float32))])


def encoder_graph(method: str, state, n_pixels: int, quantiser: UniformQuantiser, bits_per_dim: int) -> onnx.ModelProto:
    """``images`` (N, P) float32 -> packed quantised latent ``codes`` (N, ceil(d b / 8)) uint8."""
    g = _Graph()
    _quantise_and_pack(g, _latent(g, method, state), quantiser, bits_per_dim)
    n_bits = len(quantiser.low) * bits_per_dim
    graph = helper.make_graph(
        g.nodes, "bitcluster_latent_encoder",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", n_pixels])],
        [helper.make_tensor_value_info("codes", TensorProto.UINT8, ["N", code_bytes(n_bits)])], g.inits)
    return _finish(graph)


def classifier_graph(mixture: GaussianMixtureParams, quantiser: UniformQuantiser, bits_per_dim: int) -> onnx.ModelProto:
    """Packed codes -> dequantised latent -> Gaussian-mixture posterior (``mixture`` as given: widen it first)."""
    g = _Graph()
    log_joint = _mixture_log_joint(g, _unpack_and_dequantise(g, quantiser, bits_per_dim), mixture)
    g.op("ArgMax", [log_joint], output="clusters", axis=1, keepdims=0)
    g.op("Softmax", [log_joint], output="posteriors", axis=1)
    graph = helper.make_graph(
        g.nodes, "bitcluster_gmm_classifier",
        [helper.make_tensor_value_info("codes", TensorProto.UINT8, ["N", code_bytes(mixture.dim * bits_per_dim)])],
        [helper.make_tensor_value_info("clusters", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("posteriors", TensorProto.FLOAT, ["N", mixture.n_components])], g.inits)
    return _finish(graph)


def export_latent_run(run_dir: Path, out: Path, bits_per_dim: int | None = None) -> ModelManifest:
    """Export a run of ae-*, convae-*, vade or vc to ``out`` with ``bits_per_dim`` bits per latent dimension.

    ``bits_per_dim`` defaults to the run's own (``bits // latent`` of its training options).
    """
    from bitcluster.training.methods import get_method

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    method = config["method"]
    if method in NEEDS_RAW_IMAGE:
        raise ValueError(f"{method} clusters by reconstructing the raw image with every cluster's network: there "
                         "is no latent code to ship, so it cannot be split into vendor and consumer halves")
    if method not in EXPORTABLE:
        raise ValueError(f"{method!r} has no quantised-latent export; export_latent_run takes {', '.join(EXPORTABLE)}"
                         " (VAB runs are exported by bitcluster.training.export.export_run)")
    state = get_method(method).load(run_dir)
    b = int(bits_per_dim or config["model"]["bits_per_dim"])
    check_bits_per_dim(b)
    with np.load(run_dir / "latent_mixture.npz", allow_pickle=False) as f:
        mixture = GaussianMixtureParams.from_arrays(f)
    quantiser = state.quantiser
    n_pixels = config["preprocessing"]["height"] * config["preprocessing"]["width"]
    d = len(quantiser.low)
    metrics = read_json(run_dir / METRICS) if (run_dir / METRICS).is_file() else {}
    training = {"dataset": config.get("dataset"), "train": config.get("train"), "latent_dim": d,
                "bits_per_dim": b, "quantiser": {"low": quantiser.low.tolist(), "high": quantiser.high.tolist()},
                "code_layout": "level bits MSB-first, dimension after dimension"}
    return write_model_dir(
        out, encoder_graph(method, state, n_pixels, quantiser, b),
        classifier_graph(quantised_mixture(mixture, quantiser, b), quantiser, b),
        method=method, bits=d * b, clusters=mixture.n_components, preprocessing=config["preprocessing"],
        metrics=metrics, training=json.loads(json.dumps(training)))
