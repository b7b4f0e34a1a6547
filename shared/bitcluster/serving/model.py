"""The public description of a served model (``GET /v1/model``); loading is :mod:`bitcluster.core.onnx_model`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bitcluster.core.onnx_model import OnnxModel


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

    @classmethod
    def of(cls, model: OnnxModel) -> "ModelInfo":
        m = model.manifest
        return cls(model_id=m.model_id, half=model.half, method=m.method, bits=m.bits, clusters=m.clusters,
                   code_bytes=m.code_bytes, bit_order=m.bit_order, preprocessing=m.preprocessing,
                   metrics=m.metrics, provider=model.provider, code_formats=model.code_formats)
