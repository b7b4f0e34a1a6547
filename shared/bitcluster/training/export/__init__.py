"""Export a trained run as two ONNX halves plus a manifest (see :mod:`bitcluster.core.manifest`).

Each half is a torch module (:mod:`.halves` and :mod:`.bmm_classifier` for VAB,
:mod:`.quantised_latent_halves` for the latent baselines) built around the network that was trained, traced by ``torch.onnx.export``
(:mod:`.onnx_file`): the ONNX file cannot drift from the network it claims to be. Packing and
unpacking happen in the graph, in :mod:`bitcluster.core.codes`' bit order (:mod:`.bit_packing`).
:mod:`.model_dir` writes both halves and the manifest; :mod:`.run` goes from a run directory.
"""

from bitcluster.training.export.bmm_classifier import (BmmByteTables, BmmClassifierHalf, BmmPosteriorTable,
                                                      bmm_classifier_half)
from bitcluster.training.export.halves import VabEncoderHalf
from bitcluster.training.export.quantised_latent_halves import GaussianMixtureClassifierHalf, LatentEncoderHalf
from bitcluster.training.export.latent_networks import EXPORTABLE, NEEDS_RAW_IMAGE
from bitcluster.training.export.model_dir import write_model_dir
from bitcluster.training.export.onnx_file import OPSET, ExportError, classifier_onnx, encoder_onnx
from bitcluster.training.export.run import export_latent_run, export_run

__all__ = ["BmmByteTables", "BmmClassifierHalf", "BmmPosteriorTable", "EXPORTABLE", "ExportError",
           "GaussianMixtureClassifierHalf", "LatentEncoderHalf", "NEEDS_RAW_IMAGE", "OPSET", "VabEncoderHalf",
           "bmm_classifier_half", "classifier_onnx", "encoder_onnx", "export_latent_run", "export_run",
           "write_model_dir"]
