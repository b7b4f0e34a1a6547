"""One verified half of an exported model, loaded into an ONNX Runtime session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
from pydantic import BaseModel, Field

from bitcluster.core.manifest import ManifestError, ModelManifest, load_entropy_model, load_manifest
from bitcluster.serving.runtime import create_session


class ModelInfo(BaseModel):
    """What ``GET /v1/model`` says about the served model."""

    model_id: str = Field(..., description="Content hash of both halves; the vendor and the consumer must agree.")
    half: str = Field(..., description="'vendor' (encoder) or 'consumer' (classifier).")
    method: str
    bits: int = Field(..., description="Code length D in bits.")
    clusters: int = Field(..., description="Number of clusters K.")
    code_bytes: int = Field(..., description="Bytes of one packed code, ceil(D / 8).")
    bit_order: str = Field(..., description="Bit order of packed codes ('msb-first').")
    preprocessing: dict
    metrics: dict = Field(..., description="Test metrics recorded at training time.")
    provider: str = Field(..., description="ONNX Runtime execution provider, e.g. CPUExecutionProvider.")
    code_formats: list[str] = Field(..., description="Media types of the code formats spoken: the raw packed "
                                                     "format always, the entropy-coded one when the export has it.")


@dataclass
class LoadedModel:
    manifest: ModelManifest
    session: ort.InferenceSession
    provider: str
    onnx_path: Path
    half: str
    entropy_model: tuple[list[float], list[list[float]]] | None = None  # (log_pi, means) of the BMM

    def info(self) -> ModelInfo:
        m = self.manifest
        return ModelInfo(model_id=m.model_id, half=self.half, method=m.method, bits=m.bits, clusters=m.clusters,
                         code_bytes=m.code_bytes, bit_order=m.bit_order, preprocessing=m.preprocessing,
                         metrics=m.metrics, provider=self.provider, code_formats=self.code_formats)

    @property
    def code_formats(self) -> list[str]:
        from bitcluster.core.entropy_coding import MEDIA_TYPE

        return ["application/octet-stream"] + ([MEDIA_TYPE] if self.entropy_model is not None else [])

    def expect_io(self, inputs: dict[str, int], outputs: tuple[str, ...]) -> None:
        """Check the graph's input names and widths and its output names against the manifest.

        ``inputs`` maps input name to its expected second dimension.
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


def load_model(model_dir: Path, half: str, *, allow_gpu: bool = False, intra_op_threads: int = 0) -> LoadedModel:
    """Verify ``half`` of the export in ``model_dir`` (manifest and sha256) and open its ONNX file.

    Raises :class:`~bitcluster.core.manifest.ManifestError` with a message that says what to fix.
    """
    manifest, onnx_path = load_manifest(Path(model_dir), half)
    session, provider = create_session(onnx_path, allow_gpu=allow_gpu, intra_op_threads=intra_op_threads)
    return LoadedModel(manifest, session, provider, onnx_path, half, load_entropy_model(onnx_path))
