"""Open Inference Protocol tensors: datatypes, declared shapes, and JSON or binary data to numpy and back.

Every problem with a tensor raises :class:`TensorError` (a ``ValueError``) naming the tensor, never
quoting its data; the router answers it with 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

# OIP datatype -> little-endian numpy dtype. BYTES (length-prefixed strings) is not spoken here:
# both models take and give numbers only.
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}


class TensorError(ValueError):
    """A request tensor that does not match the model's declared input, or malformed data."""


def datatype_of(array: np.ndarray) -> str:
    """The OIP datatype of a numpy array (``uint8 -> "UINT8"``)."""
    for name, dtype in DTYPES.items():
        if array.dtype.newbyteorder("<") == dtype:
            return name
    raise TypeError(f"no Open Inference Protocol datatype for numpy {array.dtype}")


@dataclass(frozen=True)
class TensorSpec:
    """A declared tensor of a model: its name, datatype and shape, ``-1`` for a free dimension."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def metadata(self) -> dict[str, Any]:
        """The tensor's entry in the model metadata (``GET /v2/models/{name}``)."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def check(self, datatype: str, shape: list[int]) -> None:
        """Refuse a request tensor of another datatype or shape. Raises TensorError."""
        check_shape(self.name, shape)
        if datatype != self.datatype:
            raise TensorError(f"input {self.name!r} must be {self.datatype}, got {datatype}")
        if len(shape) != len(self.shape) or any(want not in (-1, got) for want, got in zip(self.shape, shape)):
            raise TensorError(f"input {self.name!r} must have shape {list(self.shape)} (-1: any size), got {shape}")


def check_shape(name: str, shape: list[int]) -> int:
    """Number of elements of a request shape; refuses negative dimensions."""
    if any(d < 0 for d in shape):
        raise TensorError(f"input {name!r} has a negative dimension in its shape {shape}")
    return prod(shape)


def tensor_from_json(name: str, datatype: str, shape: list[int], data: Any) -> np.ndarray:
    """JSON ``data`` (flat or nested, row-major) -> an array of ``shape`` and ``datatype``.

    Integer datatypes take only integers within their range; nothing is rounded or wrapped.
    """
    dtype = DTYPES[datatype]
    count = check_shape(name, shape)
    try:
        flat = np.asarray(data if isinstance(data, list) else [data]).reshape(-1)
    except ValueError:
        raise TensorError(f"input {name!r}: data is not a rectangular array of numbers") from None
    if flat.size != count:
        raise TensorError(f"input {name!r}: shape {shape} holds {count} elements, data has {flat.size}")
    if count == 0:
        return np.empty(shape, dtype)
    kind = flat.dtype.kind
    if dtype.kind == "b":
        if kind != "b":
            raise TensorError(f"input {name!r} is BOOL: data must be true or false")
    elif dtype.kind in "iu":
        if kind not in "iu":
            raise TensorError(f"input {name!r} is {datatype}: data must be integers")
        info = np.iinfo(dtype)
        if flat.min() < info.min or flat.max() > info.max:
            raise TensorError(f"input {name!r}: values outside {datatype}'s range {info.min}..{info.max}")
    elif kind not in "iuf":
        raise TensorError(f"input {name!r} is {datatype}: data must be numbers")
    return flat.astype(dtype).reshape(shape)


def tensor_from_bytes(name: str, datatype: str, shape: list[int], raw: bytes | memoryview) -> np.ndarray:
    """Binary tensor data (row-major, little-endian) -> an array of ``shape`` and ``datatype``."""
    dtype = DTYPES[datatype]
    count = check_shape(name, shape)
    if len(raw) != count * dtype.itemsize:
        raise TensorError(f"input {name!r}: shape {shape} of {datatype} takes {count * dtype.itemsize} bytes, "
                          f"binary_data_size is {len(raw)}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def output_tensor(name: str, array: np.ndarray, binary: bool) -> tuple[dict[str, Any], bytes | None]:
    """An output's JSON entry and, when ``binary``, its raw bytes (which the entry then announces)."""
    entry: dict[str, Any] = {"name": name, "datatype": datatype_of(array), "shape": list(array.shape)}
    if not binary:
        entry["data"] = array.reshape(-1).tolist()
        return entry, None
    raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    entry["parameters"] = {"binary_data_size": len(raw)}
    return entry, raw
