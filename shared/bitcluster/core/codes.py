"""The one bit-packing convention shared by the vendor and the consumer.

A code of ``D`` bits is shipped as ``ceil(D / 8)`` bytes. Bit ``d`` of the code sits in byte
``d // 8`` at position ``7 - d % 8``: most significant bit first, as ``numpy.packbits`` with
``bitorder="big"``. Unused trailing bits of the last byte are zero, and ``unpack_codes``
refuses codes whose padding bits are set (a sign that the sender used another ``D``).
"""

from __future__ import annotations

import numpy as np


class CodeFormatError(ValueError):
    """Raised when packed codes do not have the shape or padding of the declared bit count."""


def code_bytes(bits: int) -> int:
    """Number of bytes of one packed code of ``bits`` bits."""
    if bits < 1:
        raise CodeFormatError(f"a code needs at least 1 bit, got {bits}")
    return (bits + 7) // 8


# The bit order, written down here once: numpy's packbits/unpackbits name it "big", and
# bit_place_values() gives the same order as numbers for code that packs by arithmetic
# (the exported ONNX graphs).
NUMPY_BITORDER = "big"


def msb_first_place_values(width: int) -> np.ndarray:
    """Place value of each bit of a ``width``-bit field written most significant bit first.

    Returns
    -------
    (width,) int64 array ``[2^(width-1), ..., 2, 1]``. With ``width=8``: the masks of a byte's
    bits in code order. A quantised latent's ``b``-bit level is written into a code the same way.
    """
    return np.left_shift(1, np.arange(width - 1, -1, -1, dtype=np.int64))


def bit_place_values(bits: int) -> np.ndarray:
    """The value bit ``d`` of a ``bits``-bit code has in its byte, ``2^(7 - d % 8)``.

    Returns
    -------
    (bits,) int64 array; byte ``j`` of a packed code is the sum of ``z_d * place[d]`` over ``d // 8 == j``.
    """
    return msb_first_place_values(8)[np.arange(bits) % 8]


def pack_codes(bits_matrix: np.ndarray) -> np.ndarray:
    """Pack binary codes, MSB first.

    Parameters
    ----------
    bits_matrix : array of shape (N, D), values in {0, 1} (bool or any integer/float type)

    Returns
    -------
    packed : uint8 array of shape (N, ceil(D / 8))
    """
    z = np.asarray(bits_matrix)
    if z.ndim != 2:
        raise CodeFormatError(f"codes must be a 2-D (N, D) array, got shape {z.shape}")
    if z.dtype != np.bool_:
        if not np.isin(z, (0, 1)).all():
            raise CodeFormatError("codes must contain only 0 and 1")
        z = z.astype(np.bool_)
    return np.packbits(z, axis=1, bitorder=NUMPY_BITORDER)


def unpack_codes(packed: np.ndarray, bits: int) -> np.ndarray:
    """Unpack codes packed by :func:`pack_codes`.

    Parameters
    ----------
    packed : uint8 array of shape (N, ceil(bits / 8))
    bits : the code length D

    Returns
    -------
    codes : uint8 array of shape (N, bits) with values in {0, 1}
    """
    return np.unpackbits(check_packed_codes(packed, bits), axis=1, bitorder=NUMPY_BITORDER)[:, :bits]


def check_packed_codes(packed: np.ndarray, bits: int) -> np.ndarray:
    """Check packed codes without unpacking them: shape (N, ceil(bits / 8)), uint8, padding bits clear.

    Returns ``packed`` as an array; raises :class:`CodeFormatError` otherwise. Cheaper than
    :func:`unpack_codes` where the codes go on packed (the consumer's graph unpacks them itself).
    """
    p = np.asarray(packed)
    nbytes = code_bytes(bits)
    if p.dtype != np.uint8 or p.ndim != 2 or p.shape[1] != nbytes:
        raise CodeFormatError(
            f"packed codes for {bits} bits must be uint8 of shape (N, {nbytes}), "
            f"got {p.dtype} {p.shape}"
        )
    padding = (1 << (8 * nbytes - bits)) - 1  # the low bits of the last byte, MSB first
    if padding and (p[:, -1] & padding).any():
        raise CodeFormatError(
            f"padding bits past bit {bits} are set: these codes were not made for {bits}-bit codes"
        )
    return p


def codes_from_bytes(payload: bytes, bits: int) -> np.ndarray:
    """View a concatenation of packed codes (the octet-stream wire format) as (N, ceil(bits/8))."""
    nbytes = code_bytes(bits)
    if len(payload) == 0 or len(payload) % nbytes:
        raise CodeFormatError(
            f"a body of {len(payload)} bytes is not a whole number of {nbytes}-byte codes "
            f"({bits} bits each)"
        )
    return np.frombuffer(payload, dtype=np.uint8).reshape(-1, nbytes)
