"""The consumer's model: the exported Bernoulli-mixture posterior over packed codes, on the CPU.

No HTTP here: codes of the wrong shape or padding raise
:class:`~bitcluster.core.codes.CodeFormatError`, codes of another model
:class:`~bitcluster.core.model_mismatch.ModelMismatchError`; the serving layer answers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort

from bitcluster.core.codes import check_packed_codes
from bitcluster.core.novelty import NoveltyReference, load_novelty_reference
from bitcluster.core.onnx_model import OnnxModel, load_onnx_model

from bitcluster_consumer.config import Settings


@dataclass
class Classifier:
    model: OnnxModel
    # The training codes' log-likelihood quantiles, None for a model exported without them.
    novelty: NoveltyReference | None = field(default=None, repr=False)

    @classmethod
    def load(cls, settings: Settings) -> "Classifier":
        # CPU only: a 16..1024-bit posterior is one small matmul, and the consumer needs no GPU stack.
        model = load_onnx_model(settings.model_dir, "consumer", expected_model_id=settings.expected_model_id,
                                allow_gpu=False, intra_op_threads=settings.intra_op_threads)
        model.expect_io({"codes": model.manifest.code_bytes}, ("clusters", "posteriors"))
        return cls(model, load_novelty_reference(model.verified))

    @property
    def outputs(self) -> frozenset[str]:
        """The classifier graph's outputs: clusters, posteriors, and log_likelihood in newer exports."""
        return frozenset(o.name for o in self.model.session.get_outputs())

    @property
    def bits(self) -> int:
        return self.model.manifest.bits

    def check_codes_origin(self, model_id: str, bits: int | None = None) -> None:
        """Refuse codes declared as another model's (ModelMismatchError) or of another length
        (CodeBitsMismatchError)."""
        self.model.check_codes_origin(model_id, bits)

    def classify(self, packed: np.ndarray, posteriors: bool = False,
                 run_options: ort.RunOptions | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Packed codes (N, ceil(D/8)) uint8 -> clusters (N,) int64 and, if asked, posteriors (N, K) float32.

        The codes are checked packed (shape, padding bits clear) and unpacked once, inside the graph.
        """
        answer = self.run(packed, ("posteriors",) if posteriors else (), run_options)
        return answer["clusters"], answer.get("posteriors")

    def run(self, packed: np.ndarray, extra: tuple[str, ...] = (),
            run_options: ort.RunOptions | None = None) -> dict[str, np.ndarray]:
        """Packed codes (N, ceil(D/8)) uint8 -> ``{"clusters": (N,) int64}`` and the ``extra`` outputs
        asked for (``posteriors`` (N, K), ``log_likelihood`` (N,) float32); clusters alone run the pruned graph.

        The codes are checked packed (shape, padding bits clear) and unpacked once, inside the graph.
        """
        packed = check_packed_codes(packed, self.bits)
        if not extra:
            return {"clusters": self.model.run_clusters({"codes": packed}, run_options)}
        names = ["clusters", *extra]
        return dict(zip(names, self.model.session.run(names, {"codes": packed}, run_options)))
