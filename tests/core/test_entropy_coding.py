import numpy as np
import pytest

from bitcluster.core.codes import CodeFormatError, pack_codes
from bitcluster.core.entropy_coding import decode_codes, encode_codes, ideal_bits


def clustered_codes(n=2000, bits=24, k=4, flip=0.03, seed=0):
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 2, (k, bits))
    labels = rng.integers(0, k, n)
    z = np.where(rng.random((n, bits)) < flip, 1 - protos[labels], protos[labels]).astype(np.uint8)
    means = np.clip(np.abs(protos - flip), 0.01, 0.99)
    return z, np.log(np.full(k, 1.0 / k)), means


@pytest.mark.parametrize("bits", [1, 7, 24, 33])
def test_round_trip_is_lossless(bits):
    z, log_pi, means = clustered_codes(bits=bits)
    packed = pack_codes(z)
    stream = encode_codes(packed, bits, log_pi, means)
    np.testing.assert_array_equal(decode_codes(stream, bits, log_pi, means), packed)


def test_clustered_codes_cost_far_fewer_bits_and_near_the_ideal():
    z, log_pi, means = clustered_codes()
    stream = encode_codes(pack_codes(z), 24, log_pi, means)
    coded = len(stream) * 8 / len(z)
    ideal = ideal_bits(z, log_pi, means).mean()
    assert coded < 0.6 * 24
    assert coded == pytest.approx(ideal, rel=0.05, abs=0.5)


def test_codes_off_the_model_still_round_trip():
    rng = np.random.default_rng(1)
    z = rng.integers(0, 2, (300, 16)).astype(np.uint8)  # uniform noise: no compression, no loss
    _, log_pi, means = clustered_codes(bits=16)
    packed = pack_codes(z)
    np.testing.assert_array_equal(decode_codes(encode_codes(packed, 16, log_pi, means), 16, log_pi, means), packed)


def test_another_model_or_corruption_is_detected():
    z, log_pi, means = clustered_codes()
    stream = encode_codes(pack_codes(z), 24, log_pi, means)
    other = np.clip(means[::-1] + 0.2, 0.01, 0.99)
    with pytest.raises(CodeFormatError):
        decode_codes(stream, 24, log_pi, other)
    with pytest.raises(CodeFormatError, match="24-bit"):
        decode_codes(stream, 16, log_pi, means[:, :16])
    with pytest.raises(CodeFormatError, match="magic"):
        decode_codes(b"nope" + stream[4:], 24, log_pi, means)


def test_a_header_claiming_too_many_codes_is_refused_before_decoding():
    import struct

    z, log_pi, means = clustered_codes(n=10)
    stream = bytearray(encode_codes(pack_codes(z), 24, log_pi, means))
    struct.pack_into("<I", stream, 4, 2**32 - 1)
    with pytest.raises(CodeFormatError, match="claims"):
        decode_codes(bytes(stream), 24, log_pi, means)


def test_a_batch_coding_cannot_shorten_is_stored_dense_and_never_costs_more_than_d_bits():
    from bitcluster.core.entropy_coding import HEADER, MAGIC, STORED_MAGIC

    rng = np.random.default_rng(2)
    for bits in (4, 12, 16):
        flat = np.log(np.full(2, 0.5)), np.full((2, bits), 0.5)  # every code equally likely: D bits is the floor
        for n in (1, 3, 1000):
            packed = pack_codes(rng.integers(0, 2, (n, bits)).astype(np.uint8))
            stream = encode_codes(packed, bits, *flat)
            # D bits a code, no padding between codes: half the packed wire format at 4 bits
            assert stream[:4] == STORED_MAGIC and len(stream) == HEADER.size + -(-n * bits // 8)
            np.testing.assert_array_equal(decode_codes(stream, bits, *flat), packed)
    # Clustered codes still get the range coder, and a single code never costs more than D bits + header.
    z, log_pi, means = clustered_codes()
    assert encode_codes(pack_codes(z), 24, log_pi, means)[:4] == MAGIC
    one = pack_codes(z[:1])
    assert len(encode_codes(one, 24, log_pi, means)) <= HEADER.size + 3


def test_a_damaged_stored_stream_is_refused():
    import struct
    import zlib

    from bitcluster.core.entropy_coding import STORED_MAGIC

    flat = np.log(np.full(2, 0.5)), np.full((2, 12), 0.5)
    packed = pack_codes(np.random.default_rng(3).integers(0, 2, (51, 12)).astype(np.uint8))
    stream = encode_codes(packed, 12, *flat)
    assert stream[:4] == STORED_MAGIC and len(stream) == 14 + 77  # 51 x 12 = 612 bits: 76.5 bytes
    flipped = bytearray(stream)
    flipped[20] ^= 0x10
    with pytest.raises(CodeFormatError, match="CRC"):
        decode_codes(bytes(flipped), 12, *flat)
    with pytest.raises(CodeFormatError, match="bytes for 51 codes"):
        decode_codes(stream[:-1], 12, *flat)
    # A bit set in the last byte's fill, past the 612 bits of the codes (the CRC cannot see it).
    filled = bytearray(stream)
    filled[-1] |= 0x01
    with pytest.raises(CodeFormatError, match="past the last code"):
        decode_codes(bytes(filled), 12, *flat)
    # A header whose count does not match the body.
    forged = struct.pack("<4sIHI", STORED_MAGIC, 50, 12, zlib.crc32(packed[:50].tobytes())) + stream[14:]
    with pytest.raises(CodeFormatError, match="bytes for 50 codes"):
        decode_codes(forged, 12, *flat)
