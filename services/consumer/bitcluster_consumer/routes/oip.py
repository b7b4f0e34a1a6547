"""The consumer's model on the Open Inference Protocol: ``classifier``, packed codes -> clusters.

Input ``codes``: UINT8 ``[N, ceil(D / 8)]``, packed MSB first with the padding bits clear, as the
vendor's ``encoder`` (or ``/v1/encode``) returns them. Outputs ``clusters``: INT64 ``[N]``,
``posteriors``: FP32 ``[N, K]`` and ``log_likelihood``: FP32 ``[N]`` (``log p(z)`` in nats, in
models exported with it), the last two computed only when asked for (or when no output is named).
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
    specs = [TensorSpec("clusters", "INT64", (-1,)),
             TensorSpec("posteriors", "FP32", (-1, classifier.model.manifest.clusters))]
    if "log_likelihood" in classifier.outputs:
        specs.append(TensorSpec("log_likelihood", "FP32", (-1,)))
    return specs


def classify(classifier: Classifier, inputs: dict[str, np.ndarray], outputs: list[str],
             run_options: ort.RunOptions) -> dict[str, np.ndarray]:
    return classifier.run(inputs["codes"], tuple(name for name in outputs if name != "clusters"), run_options)


CLASSIFIER = OIPModel(name="classifier", items="codes", inputs=input_specs, outputs=output_specs, infer=classify)

router = build_oip_router(CLASSIFIER, server_name="bitcluster-consumer")
