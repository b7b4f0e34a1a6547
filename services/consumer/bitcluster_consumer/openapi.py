"""What ``POST /v1/classify`` declares in the OpenAPI document beyond its parameters: bodies, answers, examples.

The query and header parameters are declared with the route (:mod:`bitcluster_consumer.schemas`).
:data:`REQUEST_BODY` and :data:`RESPONSES` hold what is true of any model;
:func:`classify_contract` adds, once the model is loaded, what only it can say: its id in the
examples, its code length, the exact base64 shape of its codes, the batch limit.
"""

from __future__ import annotations

import base64

import numpy as np

from bitcluster.core.entropy_coding import HEADER
from bitcluster.core.wire import CODE_BITS_HEADER, COUNT_HEADER, ENTROPY_CODED, JSON, MODEL_ID_HEADER, \
    OCTET_STREAM
from bitcluster.serving.docs.patterns import base64_code_pattern
from bitcluster.serving.errors import error_responses

from bitcluster_consumer.classifier import Classifier
from bitcluster_consumer.config import Settings
from bitcluster_consumer.schemas import DIGITS_SCHEMA, ClassifyRequest

ROUTE = "/v1/classify"
CLUSTERS_DTYPE = np.dtype("<i4")  # the binary answer: one little-endian int32 per code

_BINARY_HEADERS = f"with the headers {MODEL_ID_HEADER} and {CODE_BITS_HEADER} (422 missing_header without them)"
ENTROPY_LAYOUT = (
    f"A batch entropy-coded under the model's BMM, as the vendor returns it (Accept: {ENTROPY_CODED}), "
    f"{_BINARY_HEADERS}. Layout, little-endian: 4 bytes magic 'BCE1' | uint32 N (codes) | uint16 D (bits) | "
    f"uint32 CRC-32 of the N packed codes | uint32 words of the range coder ({HEADER.size} header bytes, then "
    "whole 32-bit words). The bits are coded bit-major (bit 0 of every code, then bit 1, ...) with the exact "
    "conditionals p(z_d = 1 | z_<d) of the BMM (bitcluster.core.entropy_coding); a stream that does not "
    "decode to codes with that CRC is refused (422 invalid_entropy_coded). Where coding would not make a batch "
    "shorter, the stream is stored: magic 'BCS1', the same header, then the N x D bits of the codes "
    "concatenated (MSB first, no padding between codes, zero bits to the end of the last byte).")
REQUEST_BODY = {
    "required": True,
    "content": {
        JSON: {"schema": ClassifyRequest.model_json_schema()},
        OCTET_STREAM: {"schema": {"type": "string", "format": "binary",
                                  "description": f"N packed codes concatenated, ceil(D/8) bytes each, MSB first, "
                                                 f"padding bits clear, {_BINARY_HEADERS}; {COUNT_HEADER} "
                                                 "is checked when given."}},
        ENTROPY_CODED: {"schema": {"type": "string", "format": "binary", "description": ENTROPY_LAYOUT}},
    },
}
_HEADERS_OUT = {MODEL_ID_HEADER: {"schema": {"type": "string"}, "description": "The model that classified."},
                COUNT_HEADER: {"schema": DIGITS_SCHEMA, "description": "N, the number of clusters."}}
RESPONSES = {
    200: {"description": f"The cluster of each code. JSON by default (and always with posteriors, log_likelihood "
                         f"or novel); with 'Accept: {OCTET_STREAM}', N little-endian int32 clusters, 4 bytes each, in the "
                         f"order of the codes, with the headers {MODEL_ID_HEADER} and {COUNT_HEADER}.",
          "headers": _HEADERS_OUT,
          # The JSON schema comes from the route's response_model.
          "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}}},
    **error_responses(406, 409, 413, 415, 422, 503, 504),
}
RESPONSES[406]["description"] += (f": Accept allows neither {JSON} nor {OCTET_STREAM} (only {JSON} with posteriors, "
                                  "log_likelihood or novel)")


def unavailable_outputs(classifier: Classifier) -> dict[str, str]:
    """The optional outputs the served model cannot give (an older export), with the reason."""
    model_id = classifier.model.manifest.model_id
    unavailable = {}
    if "log_likelihood" not in classifier.outputs:
        unavailable["log_likelihood"] = f"Model {model_id} was exported without the log_likelihood output."
    if "log_likelihood" not in classifier.outputs or classifier.novelty is None:
        unavailable["novel"] = f"Model {model_id} was exported without the training codes' scores (novelty.json)."
    return unavailable


def classify_contract(schema: dict, classifier: Classifier, settings: Settings) -> None:
    """Write the served model's id, code length and code shape into ``POST /v1/classify``."""
    operation = schema["paths"][ROUTE]["post"]
    manifest = classifier.model.manifest
    example_code = base64.b64encode(bytes(manifest.code_bytes)).decode()
    body = operation["requestBody"]["content"]
    json_schema = body[JSON]["schema"]
    json_schema["properties"]["codes"].update(maxItems=settings.max_batch)
    json_schema["properties"]["codes"]["items"] = {"type": "string", "pattern": base64_code_pattern(manifest.bits)}
    json_schema["properties"]["bits"] = {"anyOf": [{"const": manifest.bits}, {"type": "null"}],
                                         "description": f"{manifest.bits}, this model's code length, when given."}
    body[JSON]["example"] = {"model_id": manifest.model_id, "codes": [example_code], "posteriors": False}
    body[OCTET_STREAM]["schema"]["maxLength"] = settings.max_batch * manifest.code_bytes
    unavailable = unavailable_outputs(classifier)
    for name, why in unavailable.items():  # declared false, so that the document promises only what is served
        json_schema["properties"][name] = {"type": "boolean", "const": False, "default": False, "description": why}
    for parameter in operation["parameters"]:
        if parameter["name"] in unavailable:
            parameter["schema"] = {"type": "boolean", "const": False, "default": False}
            parameter["description"] = unavailable[parameter["name"]]
        elif parameter["name"] == MODEL_ID_HEADER:
            parameter["example"] = manifest.model_id
        elif parameter["name"] == CODE_BITS_HEADER:
            parameter["schema"] = {"type": "string", "const": str(manifest.bits)}
            parameter["example"] = str(manifest.bits)
