"""The consumer's model: the exported Bernoulli-mixture posterior over packed codes, on the CPU."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from bitcluster.core.codes import CodeFormatError, unpack_codes
from bitcluster.serving.errors import ServiceError
from bitcluster.serving.model import LoadedModel, ModelInfo, load_model

from bitcluster_consumer.config import Settings


@dataclass
class Classifier:
    model: LoadedModel

    @classmethod
    def load(cls, settings: Settings) -> "Classifier":
        # CPU only: a 16..1024-bit posterior is one small matmul, and the consumer needs no GPU stack.
        model = load_model(settings.model_dir, "consumer", allow_gpu=False,
                           intra_op_threads=settings.intra_op_threads)
        model.expect_io({"codes": model.manifest.code_bytes}, ("clusters", "posteriors"))
        return cls(model)

    @property
    def bits(self) -> int:
        return self.model.manifest.bits

    def info(self) -> ModelInfo:
        return self.model.info()

    def check_codes(self, packed: np.ndarray) -> None:
        """422 unless ``packed`` is (N, ceil(D/8)) uint8 with its padding bits clear."""
        try:
            unpack_codes(packed, self.bits)
        except CodeFormatError as e:
            raise ServiceError(422, "invalid_codes", str(e)) from None

    def classify(self, packed: np.ndarray, posteriors: bool = False,
                 run_options: ort.RunOptions | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Packed codes (N, ceil(D/8)) uint8 -> clusters (N,) int64 and, if asked, posteriors (N, K) float32."""
        self.check_codes(packed)
        if posteriors:
            clusters, probs = self.model.session.run(["clusters", "posteriors"], {"codes": packed}, run_options)
            return clusters, probs
        (clusters,) = self.model.session.run(["clusters"], {"codes": packed}, run_options)
        return clusters, None
