"""The vendor's settings: the shared ones, plus whether the encoder may run on a GPU."""

from __future__ import annotations

from pydantic import Field

from bitcluster.serving.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8001, ge=0, le=65535)
    use_gpu: bool = Field(True, description="Run the encoder on CUDAExecutionProvider when onnxruntime-gpu "
                                            "is installed and a GPU is visible (BITCLUSTER_USE_GPU=false to "
                                            "force the CPU).")
