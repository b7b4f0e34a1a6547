"""Entropy-coded codes: the BMM as a probability model of the codes, driving a range coder.

The BMM marginal ``p(z) = sum_c pi_c prod_d p(z_d | c)`` is coded bit by bit with the exact
conditionals ``p(z_d = 1 | z_<d) = sum_c w_c mu_cd`` where ``w_c`` is the posterior of the
component given the bits already coded. A well-clustered code costs about
``-log2 p(z)`` bits, far fewer than ``D`` when the codes sit near the BMM's means.

A batch is coded as one stream, bit-major (bit 0 of every code, then bit 1, ...), so the
decoder can decode a whole batch at once. Encoder and decoder must compute bit-identical
probabilities: the update uses only IEEE-exact ``+ * /`` in a fixed order (no ``exp``/``log``,
no reductions whose order a SIMD kernel could change), and the stream carries a CRC32 of the
raw packed codes, so a mismatch is detected, never silently decoded into other codes.

Wire format (little-endian)::

    magic b"BCE1" | uint32 N | uint16 D | uint32 crc32(packed raw codes) | uint32 words...
    magic b"BCS1" | uint32 N | uint16 D | uint32 crc32(packed raw codes) | the N x D bits, dense

The second, *stored* form holds the codes' bits as they are, concatenated code after code (MSB
first, no padding between codes, zeros to the end of the last byte: ceil(N D / 8) bytes). It is
written whenever the range coder's words would not be shorter: a model whose short codes take
every value about equally often cannot be coded below D bits, and the coder's fixed cost (a few
32-bit words a stream) makes a batch of one code cost more than the raw code. So a stream never
costs more than D bits a code plus its 14-byte header, and less than the packed wire format
(``ceil(D/8)`` bytes a code) whenever D is not a multiple of 8.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from bitcluster.core.codes import CodeFormatError, pack_codes, unpack_codes
from bitcluster.core.mixture import EPS, bmm_log_joint, logsumexp

MAGIC = b"BCE1"         # range-coded under the BMM
STORED_MAGIC = b"BCS1"  # the codes' bits as they are, when coding would not make them shorter
HEADER = struct.Struct("<4sIHI")
# The format's media type on the wire is bitcluster.core.wire.ENTROPY_CODED.


def _coder():
    import constriction  # imported lazily: only this format needs it

    return constriction


class _Conditionals:
    """``p(z_d = 1 | z_<d)`` for a batch, advanced one bit at a time."""

    def __init__(self, log_pi: np.ndarray, means: np.ndarray, n: int):
        self.mu = np.clip(np.asarray(means, dtype=np.float64), EPS, 1.0 - EPS)
        pi = np.exp(np.asarray(log_pi, dtype=np.float64))
        # w is kept normalised; columns are combined one at a time so the summation order is fixed.
        self.w = np.repeat((pi / pi.sum())[None, :], n, axis=0)

    def _column_sum(self, a: np.ndarray) -> np.ndarray:
        acc = a[:, 0].copy()
        for c in range(1, a.shape[1]):
            acc += a[:, c]
        return acc

    def prob_one(self, d: int) -> np.ndarray:
        p = self._column_sum(self.w * self.mu[:, d][None, :])
        return np.clip(p, EPS, 1.0 - EPS)

    def update(self, d: int, bits: np.ndarray) -> None:
        lik = np.where(bits[:, None].astype(bool), self.mu[:, d][None, :], 1.0 - self.mu[:, d][None, :])
        self.w = self.w * lik
        self.w /= self._column_sum(self.w)[:, None]


def encode_codes(packed: np.ndarray, bits: int, log_pi: np.ndarray, means: np.ndarray) -> bytes:
    """Entropy-code a batch of packed codes (N, ceil(D/8)) under the BMM ``(log_pi, means)``."""
    z = unpack_codes(packed, bits)
    n = len(z)
    if n == 0:
        raise CodeFormatError("cannot entropy-code an empty batch")
    c = _coder()
    enc = c.stream.queue.RangeEncoder()
    family = c.stream.model.Bernoulli(perfect=False)
    cond = _Conditionals(log_pi, means, n)
    for d in range(bits):
        enc.encode(z[:, d].astype(np.int32), family, cond.prob_one(d).astype(np.float64))
        cond.update(d, z[:, d])
    words = np.asarray(enc.get_compressed(), dtype="<u4")
    crc = zlib.crc32(np.ascontiguousarray(packed).tobytes())
    if words.nbytes >= -(-n * bits // 8):
        return HEADER.pack(STORED_MAGIC, n, bits, crc) + np.packbits(z.ravel()).tobytes()
    return HEADER.pack(MAGIC, n, bits, crc) + words.tobytes()


def decode_codes(payload: bytes, bits: int, log_pi: np.ndarray, means: np.ndarray,
                 max_codes: int = 1 << 20) -> np.ndarray:
    """Decode :func:`encode_codes` output back to packed codes (N, ceil(D/8)); checks the CRC.

    A stream's header states its count and near-certain bits cost almost nothing, so a short
    stream could claim billions of codes: counts over ``max_codes`` are refused before decoding.
    """
    if len(payload) < HEADER.size or payload[:4] not in (MAGIC, STORED_MAGIC):
        raise CodeFormatError("not an entropy-coded bitcluster stream (bad magic)")
    magic, n, d_stream, crc = HEADER.unpack_from(payload)
    if n > max_codes:
        raise CodeFormatError(f"stream claims {n} codes; at most {max_codes} are decoded at once")
    if d_stream != bits:
        raise CodeFormatError(f"stream holds {d_stream}-bit codes, this model uses {bits}")
    body = payload[HEADER.size:]
    if magic == STORED_MAGIC:
        return _stored_codes(body, n, bits, crc)
    if len(body) % 4 or n == 0:
        raise CodeFormatError("truncated entropy-coded stream")
    c = _coder()
    dec = c.stream.queue.RangeDecoder(np.frombuffer(body, dtype="<u4").astype(np.uint32))
    family = c.stream.model.Bernoulli(perfect=False)
    cond = _Conditionals(log_pi, means, n)
    z = np.empty((n, bits), dtype=np.uint8)
    try:
        for d in range(bits):
            z[:, d] = dec.decode(family, cond.prob_one(d).astype(np.float64))
            cond.update(d, z[:, d])
    except (AssertionError, ValueError, RuntimeError) as e:  # constriction's words for invalid data
        raise CodeFormatError(f"entropy-coded stream does not decode under this model: {e}") from e
    packed = pack_codes(z)
    if zlib.crc32(packed.tobytes()) != crc:
        raise CodeFormatError("entropy-coded stream failed its CRC check: corrupted, or coded with another model")
    return packed


def _stored_codes(body: bytes, n: int, bits: int, crc: int) -> np.ndarray:
    """The packed codes of a stored stream's dense body, checked: length, trailing zeros, CRC."""
    total = n * bits
    if n == 0 or len(body) != -(-total // 8):
        raise CodeFormatError(f"stored stream: {len(body)} bytes for {n} codes of {bits} bits")
    stream_bits = np.unpackbits(np.frombuffer(body, dtype=np.uint8))
    if stream_bits[total:].any():
        raise CodeFormatError("stored stream: bits set past the last code")
    packed = pack_codes(stream_bits[:total].reshape(n, bits))
    if zlib.crc32(packed.tobytes()) != crc:
        raise CodeFormatError("entropy-coded stream failed its CRC check: corrupted")
    return packed


def ideal_bits(codes: np.ndarray, log_pi: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``-log2 p(z)`` of each code under the BMM marginal: the rate an ideal coder reaches."""
    return -logsumexp(bmm_log_joint(codes, log_pi, means), axis=1) / np.log(2.0)
