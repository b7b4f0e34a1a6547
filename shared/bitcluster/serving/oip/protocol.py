"""The Open Inference Protocol's inference request and response, with the binary tensor extension.

A request body is a JSON header, optionally followed by the raw bytes of the inputs that declare
``parameters.binary_data_size``, in the order of ``inputs``; the header's length is then in the
``Inference-Header-Content-Length`` request header. A response is laid out the same way when any
output is asked for in binary (``parameters.binary_data`` on the output, or
``parameters.binary_data_output`` on the request).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bitcluster.serving.errors import describe_validation_errors
from bitcluster.serving.oip.tensors import DTYPES, TensorError, output_tensor, tensor_from_bytes, tensor_from_json

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data"]


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str = Field(..., description=f"One of {', '.join(DTYPES)}.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="binary_data_size: bytes of this "
                                                                         "tensor after the JSON header.")
    data: Any = Field(None, description="The tensor's elements, flat or nested, row-major (absent when binary).")


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] = Field(default_factory=dict, description="binary_data: return it as raw bytes.")


class InferenceRequest(BaseModel):
    """The JSON part of ``POST /v2/models/{name}/infer``."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, description="binary_data_output: every output "
                                                                         "as raw bytes.")
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = Field(None, description="The outputs to return; all when absent.")


class ProtocolError(ValueError):
    """A request the protocol itself refuses (malformed header, sizes that do not add up)."""


def split_body(body: bytes, header_length: str | None) -> tuple[InferenceRequest, memoryview]:
    """The parsed JSON header and the binary bytes that follow it (empty without the extension)."""
    if header_length is None:
        json_part, binary = body, memoryview(b"")
    else:
        try:
            size = int(header_length)
        except ValueError:
            raise ProtocolError(f"{HEADER_LENGTH} must be an integer") from None
        if not 0 < size <= len(body):
            raise ProtocolError(f"{HEADER_LENGTH} is {size}, the body has {len(body)} bytes")
        json_part, binary = body[:size], memoryview(body)[size:]
    try:
        return InferenceRequest.model_validate_json(json_part), binary
    except ValidationError as e:
        raise ProtocolError(describe_validation_errors(e.errors())[1]) from None


def decode_inputs(request: InferenceRequest, binary: memoryview) -> dict[str, np.ndarray]:
    """Every input tensor as numpy, by name; binary ones are cut from ``binary`` in request order."""
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in request.inputs:
        if tensor.name in arrays:
            raise ProtocolError(f"input {tensor.name!r} is given twice")
        if tensor.datatype not in DTYPES:
            raise TensorError(f"input {tensor.name!r}: datatype {tensor.datatype!r} is not supported; "
                              f"use one of {', '.join(DTYPES)}")
        size = tensor.parameters.get("binary_data_size")
        if size is None:
            if tensor.data is None:
                raise ProtocolError(f"input {tensor.name!r} has neither data nor binary_data_size")
            arrays[tensor.name] = tensor_from_json(tensor.name, tensor.datatype, tensor.shape, tensor.data)
            continue
        if tensor.data is not None:
            raise ProtocolError(f"input {tensor.name!r} has both data and binary_data_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary):
            raise ProtocolError(f"input {tensor.name!r}: binary_data_size {size!r} does not fit the "
                                f"{len(binary)} bytes after the JSON header")
        arrays[tensor.name] = tensor_from_bytes(tensor.name, tensor.datatype, tensor.shape,
                                                binary[offset:offset + size])
        offset += size
    if offset != len(binary):
        raise ProtocolError(f"{len(binary) - offset} bytes after the JSON header belong to no input")
    return arrays


def wanted_outputs(request: InferenceRequest, declared: list[str]) -> dict[str, bool]:
    """Output name -> whether it goes back in binary, in the request's order (all declared if none asked)."""
    default_binary = bool(request.parameters.get("binary_data_output", False))
    if request.outputs is None:
        return {name: default_binary for name in declared}
    wanted: dict[str, bool] = {}
    for output in request.outputs:
        if output.name not in declared:
            raise TensorError(f"the model has no output {output.name!r}; it has {declared}")
        if "classification" in output.parameters:
            raise ProtocolError("the classification extension is not supported; ask for the tensor itself")
        wanted[output.name] = bool(output.parameters.get("binary_data", default_binary))
    return wanted


def encode_response(header: dict[str, Any], outputs: dict[str, np.ndarray],
                    binary: dict[str, bool]) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary tensors, the length of its JSON header."""
    entries, chunks = [], []
    for name, array in outputs.items():
        entry, raw = output_tensor(name, array, binary[name])
        entries.append(entry)
        if raw is not None:
            chunks.append(raw)
    head = json.dumps({**header, "outputs": entries}, separators=(",", ":")).encode()
    if not chunks:
        return head, None
    return b"".join([head, *chunks]), len(head)
