"""Export a trained run as two ONNX halves plus a manifest (see :mod:`bitcluster.core.manifest`).

The graphs are written with ``onnx.helper`` from the weights, not traced: they are small, and
building them by hand keeps the bit order (:mod:`bitcluster.core.codes`) visible in one place.

* encoder: ``images`` (N, P) float32 -> MLP -> ``1[logit > 0]`` -> packed ``codes`` (N, B) uint8,
  packing by one MatMul with the byte weights ``2^(7 - d % 8)``;
* classifier: ``codes`` (N, B) uint8 -> unpack (BitwiseAnd, Cast) -> ``z @ W + b`` ->
  ``clusters`` (N,) int64 (ArgMax) and ``posteriors`` (N, K) float32 (Softmax).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bitcluster import __version__
from bitcluster.core.bmm import classifier_weights
from bitcluster.core.codes import code_bytes
from bitcluster.core.manifest import (CLASSIFIER_FILE, ENCODER_FILE, ENTROPY_MODEL_FILE, MANIFEST_FILE, ModelManifest,
                       compute_model_id, sha256_file)
from bitcluster.training.runs import METRICS, read_config, read_json

OPSET = 18


def _packing_matrix(bits: int) -> np.ndarray:
    """(D, B) float32 with ``P[d, d // 8] = 2^(7 - d % 8)``: MSB-first packing as a product."""
    p = np.zeros((bits, code_bytes(bits)), dtype=np.float32)
    d = np.arange(bits)
    p[d, d // 8] = 2.0 ** (7 - d % 8)
    return p


def encoder_graph(layers: list[tuple[np.ndarray, np.ndarray]], bits: int) -> onnx.ModelProto:
    """MLP encoder with ReLU between ``layers`` [(W (out, in), b (out,)), ...] and packed binary output."""
    n_in = layers[0][0].shape[1]
    nodes, inits = [], []
    h = "images"
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"W{i}"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"b{i}")]
        nodes.append(helper.make_node("Gemm", [h, f"W{i}", f"b{i}"], [f"g{i}"], transB=1))
        h = f"g{i}"
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [h], [f"r{i}"]))
            h = f"r{i}"
    inits += [numpy_helper.from_array(np.zeros((), np.float32), "zero"),
              numpy_helper.from_array(_packing_matrix(bits), "pack")]
    nodes += [
        helper.make_node("Greater", [h, "zero"], ["bit_bool"]),        # q(z|x) > 0.5  <=>  logit > 0
        helper.make_node("Cast", ["bit_bool"], ["bit_float"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["bit_float", "pack"], ["byte_float"]),  # exact: integers <= 255
        helper.make_node("Cast", ["byte_float"], ["codes"], to=TensorProto.UINT8),
    ]
    graph = helper.make_graph(
        nodes, "bitcluster_encoder",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info("codes", TensorProto.UINT8, ["N", code_bytes(bits)])],
        inits)
    return _finish(graph)


def classifier_graph(log_pi: np.ndarray, means: np.ndarray) -> onnx.ModelProto:
    """BMM posterior over packed codes, unpacked in the graph.

    ``codes & 2^(7-j)`` is 0 or ``2^(7-j)``; instead of shifting it down to 0/1, the matmul's
    weights are divided by the same power of two (exact in float), and the rows of padding bits
    are zero. Unpacking is then one BitwiseAnd and one Cast.
    """
    k, bits = means.shape
    nbytes = code_bytes(bits)
    w, b = classifier_weights(log_pi, means)
    place = (2.0 ** (7 - np.arange(bits) % 8)).astype(np.float32)  # the value bit d has in its byte
    w_scaled = np.zeros((nbytes * 8, k), dtype=np.float32)
    w_scaled[:bits] = w / place[:, None]
    inits = [
        numpy_helper.from_array((2 ** np.arange(7, -1, -1)).astype(np.uint8), "masks"),
        numpy_helper.from_array(np.array([2], np.int64), "axis2"),
        numpy_helper.from_array(np.array([0, nbytes * 8], np.int64), "flat"),
        numpy_helper.from_array(w_scaled, "W_scaled"),
        numpy_helper.from_array(b, "b"),
    ]
    nodes = [
        helper.make_node("Unsqueeze", ["codes", "axis2"], ["codes3"]),                # (N, B, 1)
        helper.make_node("BitwiseAnd", ["codes3", "masks"], ["masked"]),              # (N, B, 8), MSB first
        helper.make_node("Cast", ["masked"], ["masked_f"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["masked_f", "flat"], ["z_scaled"]),              # (N, 8B): z_d * 2^(7-d%8)
        helper.make_node("MatMul", ["z_scaled", "W_scaled"], ["zw"]),
        helper.make_node("Add", ["zw", "b"], ["log_joint"]),                           # log pi + log p(z|c)
        helper.make_node("ArgMax", ["log_joint"], ["clusters"], axis=1, keepdims=0),
        helper.make_node("Softmax", ["log_joint"], ["posteriors"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "bitcluster_bmm_classifier",
        [helper.make_tensor_value_info("codes", TensorProto.UINT8, ["N", nbytes])],
        [helper.make_tensor_value_info("clusters", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("posteriors", TensorProto.FLOAT, ["N", k])],
        inits)
    return _finish(graph)


def _finish(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="bitcluster", producer_version=__version__)
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    onnx.checker.check_model(model, full_check=True)
    return model


def write_model_dir(out: Path, encoder: onnx.ModelProto, classifier: onnx.ModelProto, *, method: str,
                    bits: int, clusters: int, preprocessing: dict, metrics: dict, training: dict,
                    needs_raw_image: bool = False, entropy_model: dict | None = None) -> ModelManifest:
    """Write both halves and the manifest (a copy in each half, so each directory stands alone).

    ``entropy_model`` (``{"log_pi": [...], "means": [[...]]}``), when given, is written into both
    halves so that they can speak the entropy-coded code format (:mod:`bitcluster.core.entropy_coding`).
    """
    import onnxruntime

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    for rel, model in ((ENCODER_FILE, encoder), (CLASSIFIER_FILE, classifier)):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(out / rel))
    written = [ENCODER_FILE, CLASSIFIER_FILE]
    if entropy_model is not None:
        # repr-exact floats: both halves must build bit-identical coding probabilities
        text = json.dumps({"log_pi": [float(v) for v in entropy_model["log_pi"]],
                           "means": [[float(v) for v in row] for row in entropy_model["means"]]})
        for half in ("vendor", "consumer"):
            (out / half / ENTROPY_MODEL_FILE).write_text(text)
            written.append(f"{half}/{ENTROPY_MODEL_FILE}")
    files = {rel: sha256_file(out / rel) for rel in written}
    manifest = ModelManifest(
        model_id=compute_model_id(files), method=method, bits=bits, clusters=clusters,
        preprocessing=preprocessing, files=files, code_bytes=code_bytes(bits), needs_raw_image=needs_raw_image,
        metrics=metrics, training=training,
        versions={"bitcluster": __version__, "onnx_opset": OPSET, "onnx": onnx.__version__,
                  "onnxruntime_at_export": onnxruntime.__version__})
    text = manifest.to_json()
    for d in (out, out / "vendor", out / "consumer"):
        (d / MANIFEST_FILE).write_text(text)
    return manifest


def export_run(run_dir: Path, out: Path, bits_per_dim: int | None = None) -> ModelManifest:
    """Export a run directory to ``out``: VAB as trained, latent methods quantised (``bits_per_dim``)."""
    from bitcluster.training.methods import get_method

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if not config["method"].startswith("vab"):
        from bitcluster.training.export_latent import export_latent_run

        return export_latent_run(run_dir, out, bits_per_dim)
    model = get_method(config["method"]).load(run_dir)
    linears = [m for m in model.g_a if hasattr(m, "weight")]
    layers = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in linears]
    log_pi, means = model.prior.numpy_parameters()
    metrics = read_json(run_dir / METRICS) if (run_dir / METRICS).is_file() else {}
    training = {k: config.get(k) for k in ("dataset", "train")}
    return write_model_dir(
        out, encoder_graph(layers, model.config.bits), classifier_graph(log_pi, means),
        method=config["method"], bits=model.config.bits, clusters=model.config.clusters,
        preprocessing=config["preprocessing"], metrics=metrics, training=json.loads(json.dumps(training)),
        entropy_model={"log_pi": log_pi.tolist(), "means": means.tolist()})
