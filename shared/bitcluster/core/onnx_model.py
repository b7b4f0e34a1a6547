"""One verified half of an exported model, loaded in process into an ONNX Runtime session.

Torch-free and HTTP-free: the services, the benchmarks and any script load a half the same way.
Everything here raises domain errors (:class:`~bitcluster.core.manifest.ManifestError` for a
broken export, the ``ValueError`` subclasses below for requests meant for another model); what
they become on the wire is the serving layer's business.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from bitcluster.core.codes import CodeFormatError
from bitcluster.core.cpu_limit import cpu_limit
from bitcluster.core.manifest import (CLUSTERS_ONLY_FILE, HALVES, ManifestError, ModelManifest, VerifiedHalf,
                                      read_half)
from bitcluster.core.model_mismatch import ModelMismatchError
from bitcluster.core.wire import ENTROPY_CODED, OCTET_STREAM

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class CodeBitsMismatchError(CodeFormatError):
    """Codes declared with another code length than the loaded model's."""


def choose_providers(allow_gpu: bool) -> list[str]:
    """CUDA first when this onnxruntime build has it and the caller allows it; CPU always last."""
    if allow_gpu and CUDA in ort.get_available_providers():
        return [CUDA, CPU]
    return [CPU]


def create_session(onnx: bytes | Path, *, allow_gpu: bool = False,
                   intra_op_threads: int = 0) -> tuple[ort.InferenceSession, str]:
    """Open an ONNX graph (its bytes, or a path); returns the session and the provider that actually runs it.

    A verified model is opened from the bytes whose hash was checked (:func:`load_onnx_model`), so
    that a file replaced after the check is never run.

    ``intra_op_threads`` 0 means the container's CPU limit (:func:`~bitcluster.core.cpu_limit.cpu_limit`),
    not ONNX Runtime's default of every core of the machine.

    onnxruntime falls back to CPU when CUDA cannot start (no driver, no GPU visible), so the
    provider is read back from the session rather than assumed.
    """
    providers = choose_providers(allow_gpu)
    if CUDA in providers and hasattr(ort, "preload_dlls"):
        try:  # onnxruntime-gpu >= 1.21 finds CUDA/cuDNN installed as nvidia-* wheels this way
            ort.preload_dlls()
        except Exception as e:  # noqa: BLE001 - a system-wide CUDA may still work
            log.warning("onnxruntime.preload_dlls() failed (%s); relying on the system CUDA libraries", e)
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads or cpu_limit()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise here
    session = ort.InferenceSession(onnx if isinstance(onnx, bytes) else str(onnx), sess_options=options,
                                   providers=providers)
    provider = session.get_providers()[0]
    if CUDA in providers and provider != CUDA:
        log.warning("CUDAExecutionProvider is installed but could not start; running on %s", provider)
    return session, provider


@dataclass
class OnnxModel:
    """A verified half: its manifest, its open session, and the BMM for the entropy-coded format."""

    manifest: ModelManifest
    session: ort.InferenceSession
    provider: str
    onnx_path: Path
    half: str
    entropy_model: tuple[list[float], list[list[float]]] | None = None  # (log_pi, means) of the BMM
    clusters_session: ort.InferenceSession | None = None  # the consumer's graph pruned to ``clusters``
    verified: VerifiedHalf | None = None  # the bytes of every file of the half, as checked against the manifest

    def run_clusters(self, feed: dict, run_options: ort.RunOptions | None = None):
        """The ``clusters`` output alone, from the pruned graph when the export has one.

        ONNX Runtime runs every node of a graph whatever outputs are asked for: on the full
        classifier, clusters alone would cost the softmax too.
        """
        session = self.clusters_session or self.session
        return session.run(["clusters"], feed, run_options)[0]

    @property
    def code_formats(self) -> list[str]:
        """Media types of the code formats this half speaks: raw packed always, entropy-coded if exported."""
        return [OCTET_STREAM] + ([ENTROPY_CODED] if self.entropy_model is not None else [])

    def expect_io(self, inputs: dict[str, int], outputs: tuple[str, ...]) -> None:
        """Check the graph's input names and widths and its output names against the manifest.

        ``inputs`` maps input name to its expected second dimension. Raises ManifestError.
        """
        got_in = {i.name: i.shape for i in self.session.get_inputs()}
        got_out = {o.name for o in self.session.get_outputs()}
        for name, width in inputs.items():
            shape = got_in.get(name)
            if shape is None or len(shape) != 2 or shape[1] != width:
                raise ManifestError(f"{self.onnx_path}: expected input {name!r} of shape (N, {width}), "
                                    f"the graph has {got_in}")
        if not set(outputs) <= got_out:
            raise ManifestError(f"{self.onnx_path}: expected outputs {list(outputs)}, the graph has {sorted(got_out)}")
        if self.clusters_session is not None:
            pruned_in = {i.name: i.shape for i in self.clusters_session.get_inputs()}
            pruned_out = [o.name for o in self.clusters_session.get_outputs()]
            if pruned_in != got_in or pruned_out != ["clusters"]:
                raise ManifestError(f"{CLUSTERS_ONLY_FILE} is not the classifier pruned to its clusters: inputs "
                                    f"{pruned_in}, outputs {pruned_out}")

    def check_codes_origin(self, model_id: str, bits: int | None = None) -> None:
        """Refuse codes declared as made by another model, or (when ``bits`` is given) of another length.

        Codes of a model this one was refit from are its own (the same encoder).

        Raises ModelMismatchError or CodeBitsMismatchError.
        """
        m = self.manifest
        if model_id not in m.code_model_ids:
            raise ModelMismatchError(f"these codes were made by model {model_id!r}, this {self.half} serves model "
                                     f"{m.model_id!r}; encode with the vendor of the same export, or deploy it here")
        if bits is not None and bits != m.bits:
            raise CodeBitsMismatchError(f"codes of {bits} bits were sent; model {m.model_id} takes {m.bits}-bit codes")


def load_onnx_model(model_dir: Path, half: str, *, expected_model_id: str | None = None, allow_gpu: bool = False,
                    intra_op_threads: int = 0) -> OnnxModel:
    """Verify ``half`` of the export in ``model_dir`` and open its graphs from the verified bytes.

    Each file is read once (:func:`~bitcluster.core.manifest.read_half`) and ONNX Runtime gets those
    bytes, never the path. ``expected_model_id``, when given, refuses any other model.
    Raises :class:`~bitcluster.core.manifest.ManifestError` with a message that says what to fix.
    """
    verified = read_half(Path(model_dir), half, expected_model_id=expected_model_id)
    session, provider = create_session(verified.contents[HALVES[half]], allow_gpu=allow_gpu,
                                       intra_op_threads=intra_op_threads)
    clusters_session = None
    if CLUSTERS_ONLY_FILE in verified.contents:  # the consumer's, when its export has it
        clusters_session, _ = create_session(verified.contents[CLUSTERS_ONLY_FILE], allow_gpu=allow_gpu,
                                             intra_op_threads=intra_op_threads)
    return OnnxModel(verified.manifest, session, provider, verified.onnx_path, half, verified.entropy_model,
                     clusters_session, verified)
