"""What ``POST /v1/encode`` declares in the OpenAPI document: bodies, answers, examples.

:data:`REQUEST_BODY` and :data:`RESPONSES` hold what is true of any model; :func:`encode_contract`
adds, once the model is loaded, what only it can say: request examples of its input size, the
batch limit, and whether it speaks the entropy-coded format.
"""

from __future__ import annotations

import base64
import copy
import io

from bitcluster.core.channels import GREY_TO_RGB, RGB, RGB_TO_GREY
from bitcluster.core.wire import CODE_BITS_HEADER, CONVERSION_HEADER, CONVERTED_HEADER, COUNT_HEADER, ENTROPY_CODED, \
    JSON, MODEL_ID_HEADER, MULTIPART_FORM, OCTET_STREAM
from bitcluster.serving.errors import error_responses

from bitcluster_vendor.config import Settings
from bitcluster_vendor.encoder import Encoder
from bitcluster_vendor.schemas import ENCODE_REQUEST_SCHEMA

ROUTE = "/v1/encode"
IMAGE_TYPES = "image/png, image/jpeg"

REQUEST_BODY = {
    "required": True,
    "content": {
        JSON: {"schema": copy.deepcopy(ENCODE_REQUEST_SCHEMA)},
        MULTIPART_FORM: {
            "schema": {"type": "object", "required": ["files"],
                       "properties": {"files": {"type": "array", "minItems": 1,
                                                "items": {"type": "string", "format": "binary"},
                                                "description": "PNG or JPEG files, one part each, named "
                                                               "'files'; other fields are ignored."}}},
            # A part without a filename is a text field, not a file, to the multipart parser (422).
            "encoding": {"files": {"contentType": IMAGE_TYPES, "headers": {"Content-Disposition": {
                "required": True, "schema": {"type": "string"},
                "description": "Names the part 'files' and gives a filename, which makes it a file upload.",
                "example": 'form-data; name="files"; filename="image.png"'}}}}},
    },
}
_CODE_HEADERS = {MODEL_ID_HEADER: {"schema": {"type": "string"}, "description": "The model that encoded."},
                 CODE_BITS_HEADER: {"schema": {"type": "integer"}, "description": "D, the code length in bits."},
                 COUNT_HEADER: {"schema": {"type": "integer"}, "description": "N, the number of codes."},
                 CONVERTED_HEADER: {"schema": {"type": "integer"},
                                    "description": "How many images were converted between grey and RGB to match "
                                                   "the model; absent when none was (JSON: 'converted')."},
                 CONVERSION_HEADER: {"schema": {"type": "string", "enum": [RGB_TO_GREY, GREY_TO_RGB]},
                                     "description": "The rule they were converted by; absent when none was (JSON: "
                                                    "'conversion')."}}
RESPONSES = {
    200: {"description": f"The code of each image, in order. JSON by default; with 'Accept: {OCTET_STREAM}' the "
                         f"N packed codes concatenated, ceil(D/8) bytes each, MSB first; with 'Accept: "
                         f"{ENTROPY_CODED}' (models exported with their entropy model) the batch entropy-coded "
                         "(layout in the consumer's OpenAPI document and bitcluster.core.entropy_coding). Binary "
                         "answers carry the headers below; send them on to the consumer with the body.",
          "headers": _CODE_HEADERS,
          # The JSON schema comes from the route's response_model.
          "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}},
                      ENTROPY_CODED: {"schema": {"type": "string", "format": "binary"}}}},
    **error_responses(406, 413, 415, 422, 503, 504),
}
RESPONSES[406]["description"] += f": Accept allows none of {JSON}, {OCTET_STREAM}, {ENTROPY_CODED} (when spoken)"


def example_png(height: int, width: int, channels: int = 1) -> str:
    """Base64 of a black grey (or RGB) PNG of the model's input size."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB" if channels == RGB else "L", (width, height)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def encode_contract(schema: dict, encoder: Encoder, settings: Settings) -> None:
    """Write the served model's input size, batch limit and code formats into ``POST /v1/encode``."""
    operation = schema["paths"][ROUTE]["post"]
    body = operation["requestBody"]["content"]
    p = encoder.preprocessing
    height, width = p.height, p.width
    properties = body[JSON]["schema"]["properties"]
    properties["images"]["maxItems"] = settings.max_batch
    for alternative in properties["pixels"]["anyOf"]:
        alternative["maxItems"] = settings.max_batch
    body[MULTIPART_FORM]["schema"]["properties"]["files"]["maxItems"] = settings.max_batch
    pixel = [0] * RGB if p.channels == RGB else 0
    body[JSON]["examples"] = {
        "pixels": {"summary": f"one {p.describe()} image as levels 0..255",
                   "value": {"pixels": [[[pixel] * width for _ in range(height)]]}},
        "images": {"summary": f"one {p.describe()} PNG file",
                   "value": {"images": [example_png(height, width, p.channels)]}},
    }
    if encoder.model.entropy_model is None:
        operation["responses"]["200"]["content"].pop(ENTROPY_CODED, None)
