"""The consumer's model on the Open Inference Protocol: ``classifier``, packed codes -> clusters.

Input ``codes``: UINT8 ``[N, ceil(D / 8)]``, packed MSB first with the padding bits clear, as the
vendor's ``encoder`` (or ``/v1/encode``) returns them. Outputs ``clusters``: INT64 ``[N]``, and
``posteriors``: FP32 ``[N, K]``, computed only when asked for (or when no output is named).
The codes' origin is the version: ``/v2/models/classifier/versions/<model_id>/infer`` refuses
codes of another model, as ``X-Model-Id`` does on ``/v1/classify``.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from bitcluster.serving.oip import OIPModel, TensorSpec, build_oip_router

from bitcluster_consumer.classifier import Classifier


def input_specs(classifier: Classifier) -> list[TensorSpec]:
    return [TensorSpec("codes", "UINT8", (-1, classifier.model.manifest.code_bytes))]


def output_specs(classifier: Classifier) -> list[TensorSpec]:
    return [TensorSpec("clusters", "INT64", (-1,)),
            TensorSpec("posteriors", "FP32", (-1, classifier.model.manifest.clusters))]


def classify(classifier: Classifier, inputs: dict[str, np.ndarray], outputs: list[str],
             run_options: ort.RunOptions) -> dict[str, np.ndarray]:
    clusters, posteriors = classifier.classify(inputs["codes"], "posteriors" in outputs, run_options)
    return {"clusters": clusters} if posteriors is None else {"clusters": clusters, "posteriors": posteriors}


CLASSIFIER = OIPModel(name="classifier", items="codes", inputs=input_specs, outputs=output_specs, infer=classify)

router = build_oip_router(CLASSIFIER, server_name="bitcluster-consumer")
