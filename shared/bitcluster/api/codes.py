"""Codes as the Python API hands them out: the packed bytes with the model and code length that made them.

A bare ``(N, ceil(D / 8))`` byte array does not say which model made it, and codes of two models
compared bit by bit mean nothing; :class:`Codes` carries ``model_id`` and ``bits`` along, so a
classifier of another model can refuse them. numpy-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from bitcluster.core.codes import check_packed_codes, codes_from_bytes, unpack_codes

# What ``classify`` takes: Codes, or packed codes alone (an (N, ceil(D/8)) uint8 array, or their
# concatenated bytes as on the wire), which are then taken to be the classifier's own model's.
CodesLike = Union["Codes", np.ndarray, bytes, bytearray, memoryview]


@dataclass(frozen=True, eq=False)
class Codes:
    """Packed binary codes and their origin.

    Attributes
    ----------
    packed : (N, ceil(bits / 8)) uint8, most significant bit first (:mod:`bitcluster.core.codes`)
    bits : the code length D
    model_id : the ``model_id`` of the export whose encoder made them

    Behaves as the ``packed`` array where an array is wanted (``np.asarray(codes)``, ``len(codes)``),
    and slices into Codes of the same origin (``codes[:10]``).
    """

    packed: np.ndarray
    bits: int
    model_id: str

    def __post_init__(self) -> None:
        packed = np.ascontiguousarray(check_packed_codes(self.packed, self.bits))
        object.__setattr__(self, "packed", packed)

    def __len__(self) -> int:
        return len(self.packed)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.packed if dtype is None else self.packed.astype(dtype)

    def __getitem__(self, index) -> "Codes":
        rows = self.packed[index]
        return Codes(rows[None] if rows.ndim == 1 else rows, self.bits, self.model_id)

    def __repr__(self) -> str:
        return f"Codes({len(self)} codes of {self.bits} bits, model {self.model_id})"

    @property
    def code_bytes(self) -> int:
        return self.packed.shape[1]

    def unpack(self) -> np.ndarray:
        """The codes as bits: (N, bits) uint8 in {0, 1}."""
        return unpack_codes(self.packed, self.bits)

    def tobytes(self) -> bytes:
        """The octet-stream wire format: the packed codes concatenated."""
        return self.packed.tobytes()


def packed_codes_of(codes: CodesLike, bits: int) -> np.ndarray:
    """Packed codes given alone (no origin) -> checked (N, ceil(bits / 8)) uint8.

    A 1-D byte array or a ``bytes`` object is read as codes concatenated, ``ceil(bits / 8)``
    bytes each. Raises :class:`~bitcluster.core.codes.CodeFormatError` for any other shape.
    """
    if isinstance(codes, Codes):
        return codes.packed
    if isinstance(codes, (bytes, bytearray, memoryview)):
        return codes_from_bytes(bytes(codes), bits)
    packed = np.asarray(codes)
    if packed.ndim == 1 and packed.dtype == np.uint8:
        return codes_from_bytes(packed.tobytes(), bits)
    return np.ascontiguousarray(check_packed_codes(packed, bits))


__all__ = ["Codes", "CodesLike", "packed_codes_of"]
