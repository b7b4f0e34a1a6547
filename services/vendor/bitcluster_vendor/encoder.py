"""The vendor's model: the manifest's preprocessing followed by the exported encoder graph."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from bitcluster.core.preprocessing import ImageFormatError, Preprocessing
from bitcluster.serving.errors import ServiceError
from bitcluster.serving.model import LoadedModel, ModelInfo, load_model

from bitcluster_vendor.config import Settings


@dataclass
class Encoder:
    model: LoadedModel
    preprocessing: Preprocessing

    @classmethod
    def load(cls, settings: Settings) -> "Encoder":
        model = load_model(settings.model_dir, "vendor", allow_gpu=settings.use_gpu,
                           intra_op_threads=settings.intra_op_threads)
        preprocessing = Preprocessing.from_dict(model.manifest.preprocessing)
        model.expect_io({"images": preprocessing.n_pixels}, ("codes",))
        return cls(model, preprocessing)

    def info(self) -> ModelInfo:
        return self.model.info()

    def preprocess(self, images: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """(N, H, W) batch, or a list of (H, W) images of any sizes -> (N, P) float32 in [0, 1].

        Raises ServiceError 422 for images the shared preprocessing refuses (NaN, out of range).
        """
        try:
            if isinstance(images, np.ndarray):
                return self.preprocessing.apply(images)
            if len({im.shape for im in images}) == 1:
                return self.preprocessing.apply(np.stack(images))
            return np.concatenate([self.preprocessing.apply(im[None]) for im in images])
        except ImageFormatError as e:
            raise ServiceError(422, "invalid_pixels", str(e)) from None

    def encode(self, images: np.ndarray | list[np.ndarray], run_options: ort.RunOptions | None = None) -> np.ndarray:
        """Images -> packed codes, uint8 of shape (N, ceil(D / 8)), MSB first."""
        x = self.preprocess(images)
        return self.model.session.run(["codes"], {"images": x}, run_options)[0]
