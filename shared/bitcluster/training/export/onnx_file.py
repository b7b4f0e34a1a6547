"""Trace a half (a torch module) into an ONNX model with the names and shapes the services expect.

``torch.onnx.export`` with the ``torch.export``-based exporter (the default since torch 2.9; it
needs ``onnxscript``), opset 18, the batch axis dynamic:

* encoder: ``images`` (N, P) float32 -> ``codes`` (N, B) uint8;
* classifier: ``codes`` (N, B) uint8 -> ``clusters`` (N,) int64, ``posteriors`` (N, K) float32,
  ``log_likelihood`` (N,) float32;
* clusters only: the classifier pruned to ``clusters`` (:func:`clusters_only_onnx`).
"""

from __future__ import annotations

import contextlib
import logging
import warnings

import onnx
import onnx.utils
import torch
from torch import nn

from bitcluster import __version__

OPSET = 18
# Readable by every onnxruntime >= 1.14; the graphs use nothing newer than opset 18 ops.
IR_VERSION = 8
ENCODER_IO = (("images",), ("codes",))
CLASSIFIER_IO = (("codes",), ("clusters", "posteriors", "log_likelihood"))
# The exporter logs a warning for each torchvision op it cannot register (torchvision is not
# used), and torch.export warns about its own use of a deprecated pytree API.
_NOISY_LOGGER = "torch.onnx._internal.exporter._registration"
_NOISY_WARNING = ".*LeafSpec.*"


class ExportError(RuntimeError):
    """Raised when a traced half does not come out as the services expect it."""


def encoder_onnx(half: nn.Module, n_pixels: int) -> onnx.ModelProto:
    """Trace an encoder half: images (N, ``n_pixels``) float32 -> packed codes (N, B) uint8."""
    return _export(half, torch.zeros(2, n_pixels), *ENCODER_IO, graph_name="bitcluster_encoder")


def classifier_onnx(half: nn.Module, code_bytes: int) -> onnx.ModelProto:
    """Trace a classifier half: packed codes (N, ``code_bytes``) uint8 -> clusters (N,), posteriors (N, K),
    log-likelihoods (N,)."""
    return _export(half, torch.zeros(2, code_bytes, dtype=torch.uint8), *CLASSIFIER_IO,
                   graph_name="bitcluster_classifier")


@contextlib.contextmanager
def _quiet_exporter():
    logger = logging.getLogger(_NOISY_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_NOISY_WARNING, category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def clusters_only_onnx(classifier: onnx.ModelProto) -> onnx.ModelProto:
    """The classifier pruned to the nodes its ``clusters`` output needs (no softmax, no posteriors)."""
    model = onnx.utils.Extractor(classifier).extract_model(list(CLASSIFIER_IO[0]), ["clusters"])
    model.graph.name = f"{classifier.graph.name}_clusters"
    model.producer_name, model.producer_version = classifier.producer_name, classifier.producer_version
    model.ir_version = classifier.ir_version
    _check_io(model, CLASSIFIER_IO[0], ("clusters",))
    onnx.checker.check_model(model, full_check=True)
    return model


def _export(half: nn.Module, example: torch.Tensor, input_names: tuple[str, ...], output_names: tuple[str, ...],
            graph_name: str) -> onnx.ModelProto:
    half.eval()
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(half, (example,), dynamo=True, input_names=list(input_names),
                                    output_names=list(output_names), opset_version=OPSET,
                                    dynamic_shapes=({0: torch.export.Dim("N")},), verbose=False)
    model = program.model_proto
    model.graph.name = graph_name
    model.producer_name, model.producer_version = "bitcluster", __version__
    model.ir_version = IR_VERSION
    _check_io(model, input_names, output_names)
    onnx.checker.check_model(model, full_check=True)
    return model


def _check_io(model: onnx.ModelProto, input_names: tuple[str, ...], output_names: tuple[str, ...]) -> None:
    """Names as asked, and a batch axis left free: a module that reads its batch size as a Python
    int (``len(x)``) is traced with the example's batch size pinned."""
    graph = model.graph
    got = (tuple(i.name for i in graph.input), tuple(o.name for o in graph.output))
    if got != (input_names, output_names):
        raise ExportError(f"the traced graph has inputs {got[0]} and outputs {got[1]}, "
                          f"expected {input_names} and {output_names}")
    for value in (*graph.input, *graph.output):
        batch = value.type.tensor_type.shape.dim[0]
        if not batch.dim_param:
            raise ExportError(f"{graph.name}: {value.name!r} has a fixed batch size {batch.dim_value}; the module "
                              "must not read its batch size as a Python int (use reshape(-1, ...) or flatten)")
