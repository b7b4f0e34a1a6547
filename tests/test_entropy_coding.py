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
