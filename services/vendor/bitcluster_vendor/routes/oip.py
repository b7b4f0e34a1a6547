"""The vendor's model on the Open Inference Protocol: ``encoder``, images -> packed codes.

Input ``images``: UINT8 ``[N, H, W]`` grey levels (``[N, H, W, 3]`` RGB for an RGB model), 0..255
at the size and channels the manifest's preprocessing states (``GET /v2/models/encoder`` gives
them), so the tensor is exactly what the model was trained on; the service scales it to [0, 1] as
``/v1/encode`` does with integer ``pixels``, and the codes are byte-identical. Images of other
sizes or channels go to ``/v1/encode``, which resizes and converts. Output ``codes``: UINT8
``[N, ceil(D / 8)]``, MSB first.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from bitcluster.serving.oip import OIPModel, TensorSpec, build_oip_router

from bitcluster_vendor.encoder import Encoder


def input_specs(encoder: Encoder) -> list[TensorSpec]:
    p = encoder.preprocessing
    return [TensorSpec("images", "UINT8", (-1, *p.image_shape))]


def output_specs(encoder: Encoder) -> list[TensorSpec]:
    return [TensorSpec("codes", "UINT8", (-1, encoder.model.manifest.code_bytes))]


def encode(encoder: Encoder, inputs: dict[str, np.ndarray], outputs: list[str],
           run_options: ort.RunOptions) -> dict[str, np.ndarray]:
    return {"codes": encoder.encode(inputs["images"], run_options)}


ENCODER = OIPModel(name="encoder", items="images", inputs=input_specs, outputs=output_specs, infer=encode)

router = build_oip_router(ENCODER, server_name="bitcluster-vendor")
