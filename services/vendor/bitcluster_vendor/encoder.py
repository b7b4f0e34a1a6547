"""The vendor's model: the manifest's preprocessing followed by the exported encoder graph.

No HTTP here: images the shared preprocessing refuses raise
:class:`~bitcluster.core.preprocessing.ImageFormatError`; the serving layer answers it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from bitcluster.core.onnx_model import OnnxModel, load_onnx_model
from bitcluster.core.preprocessing import Preprocessing

from bitcluster_vendor.config import Settings


@dataclass
class Encoder:
    model: OnnxModel
    preprocessing: Preprocessing

    @classmethod
    def load(cls, settings: Settings) -> "Encoder":
        model = load_onnx_model(settings.model_dir, "vendor", expected_model_id=settings.expected_model_id,
                                allow_gpu=settings.use_gpu, intra_op_threads=settings.intra_op_threads)
        preprocessing = Preprocessing.from_dict(model.manifest.preprocessing)
        model.expect_io({"images": preprocessing.n_pixels}, ("codes",))
        return cls(model, preprocessing)

    def preprocess(self, images: np.ndarray, resize: bool = False) -> np.ndarray:
        """(N, H, W) grey or (N, H, W, 3) RGB batch -> (N, P) float32 in [0, 1], converted to the model's
        channels when it has the other number (``preprocessing.conversion`` says whether).

        Raises ImageFormatError for images the shared preprocessing refuses (NaN, out of range,
        another aspect ratio than the model's unless ``resize``).
        """
        return self.preprocessing.apply(images, any_aspect_ratio=resize)

    def run(self, x: np.ndarray, run_options: ort.RunOptions | None = None) -> np.ndarray:
        """Preprocessed (N, P) float32 -> packed codes, uint8 of shape (N, ceil(D / 8)), MSB first."""
        return self.model.session.run(["codes"], {"images": x}, run_options)[0]

    def encode(self, images: np.ndarray, run_options: ort.RunOptions | None = None,
               resize: bool = False) -> np.ndarray:
        """(N, H, W) grey or (N, H, W, 3) RGB images -> packed codes, uint8 of shape (N, ceil(D / 8)), MSB first."""
        return self.run(self.preprocess(images, resize), run_options)
