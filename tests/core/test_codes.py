import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitcluster.core.codes import CodeFormatError, code_bytes, codes_from_bytes, pack_codes, unpack_codes


def test_msb_first_bit_order():
    # bit 0 is the most significant bit of byte 0; bits past D are zero padding
    z = np.array([[1, 0, 0, 0, 0, 0, 0, 0, 0, 1]], dtype=np.uint8)
    packed = pack_codes(z)
    assert packed.dtype == np.uint8
    assert packed.tolist() == [[0b1000_0000, 0b0100_0000]]


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 4096), n=st.integers(1, 9), seed=st.integers(0, 2**31 - 1))
def test_pack_unpack_is_identity(bits, n, seed):
    z = np.random.default_rng(seed).integers(0, 2, size=(n, bits), dtype=np.uint8)
    packed = pack_codes(z)
    assert packed.shape == (n, code_bytes(bits))
    np.testing.assert_array_equal(unpack_codes(packed, bits), z)
    np.testing.assert_array_equal(unpack_codes(codes_from_bytes(packed.tobytes(), bits), bits), z)


def test_set_padding_bits_are_refused():
    packed = np.array([[0xFF, 0xFF]], dtype=np.uint8)  # 16 bits set, declared as 10
    with pytest.raises(CodeFormatError, match="padding"):
        unpack_codes(packed, 10)


@pytest.mark.parametrize("bad", [np.zeros((2, 3), np.uint8), np.zeros((2, 2), np.int64), np.zeros(4, np.uint8)])
def test_wrong_shapes_or_dtypes_are_refused(bad):
    with pytest.raises(CodeFormatError):
        unpack_codes(bad, 16)


def test_body_must_hold_whole_codes():
    with pytest.raises(CodeFormatError, match="whole number"):
        codes_from_bytes(b"\x00" * 5, 16)
    with pytest.raises(CodeFormatError):
        codes_from_bytes(b"", 16)


def test_non_binary_values_are_refused():
    with pytest.raises(CodeFormatError):
        pack_codes(np.array([[0, 2, 1]]))
