"""Tensors travel as little-endian bytes with dtype and shape, checked against expectations."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from agent.wire.errors import ErrorCode, WireError
from agent.wire.tensors import decode_tensor, encode_tensor


def test_round_trip_through_msgpack_is_bit_exact():
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    wire = msgpack.unpackb(msgpack.packb(encode_tensor(array)))
    decoded = decode_tensor(wire, expected_dtype="float32", expected_shape=(2, None, 4))
    np.testing.assert_array_equal(decoded, array)


def test_big_endian_input_is_sent_little_endian():
    array = np.array([1.0, -2.5], dtype=">f4")
    assert encode_tensor(array)["data"] == np.array([1.0, -2.5], dtype="<f4").tobytes()


@pytest.mark.parametrize(
    "mutation, code",
    [
        ({"dtype": "float64"}, ErrorCode.WRONG_DTYPE),
        ({"dtype": "object"}, ErrorCode.WRONG_DTYPE),
        ({"shape": [2, 5]}, ErrorCode.WRONG_SHAPE),
        ({"shape": [8]}, ErrorCode.WRONG_SHAPE),
        ({"data": b"\x00" * 31}, ErrorCode.WRONG_SHAPE),
        ({"shape": [2, -4]}, ErrorCode.MALFORMED),
        ({"shape": "2x4"}, ErrorCode.MALFORMED),
        ({"data": "text"}, ErrorCode.MALFORMED),
    ],
)
def test_wrong_dtype_shape_or_length_is_refused(mutation, code):
    wire = encode_tensor(np.zeros((2, 4), dtype=np.float32)) | mutation
    with pytest.raises(WireError) as caught:
        decode_tensor(wire, expected_dtype="float32", expected_shape=(2, 4))
    assert caught.value.code == code


def test_extra_keys_are_refused():
    wire = encode_tensor(np.zeros(3, dtype=np.float32)) | {"pickle": b"x"}
    with pytest.raises(WireError, match="exactly dtype, shape and data"):
        decode_tensor(wire, expected_dtype="float32", expected_shape=(3,))


def test_unsupported_dtype_cannot_be_sent():
    with pytest.raises(ValueError, match="cannot travel"):
        encode_tensor(np.zeros(2, dtype=np.complex64))
