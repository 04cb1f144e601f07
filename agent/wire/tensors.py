"""Tensors on the wire: raw little-endian bytes with dtype and shape, never pickle.

A tensor travels as the msgpack map {"dtype": str, "shape": [int...], "data": bytes}
inside a message body. The decoder is told what the endpoint expects and
refuses anything else before a single byte is interpreted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ErrorCode, WireError

# Names are numpy's; byte order on the wire is always little-endian.
WIRE_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name).newbyteorder("<")
    for name in ("float32", "float16", "float64", "int64", "int32", "uint8", "bool")
}
MAX_TENSOR_DIMS = 8


def encode_tensor(array: np.ndarray) -> dict[str, Any]:
    """The wire form of `array` (copied to little-endian, C order)."""
    name = array.dtype.name
    if name not in WIRE_DTYPES:
        raise ValueError(f"dtype {name} cannot travel; use one of {sorted(WIRE_DTYPES)}")
    data = np.ascontiguousarray(array, dtype=WIRE_DTYPES[name]).tobytes()
    return {"dtype": name, "shape": list(array.shape), "data": data}


def decode_tensor(
    value: Any,
    *,
    expected_dtype: str,
    expected_shape: Sequence[int | None],
    name: str = "tensor",
) -> np.ndarray:
    """The array in `value`, checked against the endpoint's dtype and shape (None = any size).

    Returns a read-only view on the received bytes in native byte order.
    """
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "data"}:
        raise WireError(ErrorCode.MALFORMED, f"{name} must be a map with exactly dtype, shape and data")
    dtype_name, shape, data = value["dtype"], value["shape"], value["data"]
    if dtype_name != expected_dtype:
        raise WireError(ErrorCode.WRONG_DTYPE, f"{name} must be {expected_dtype}, got {dtype_name!r}")
    if not _is_shape(shape):
        raise WireError(ErrorCode.MALFORMED, f"{name} shape must be a list of at most {MAX_TENSOR_DIMS} non-negative ints")
    if not _shape_matches(shape, expected_shape):
        expected_text = [("any" if size is None else size) for size in expected_shape]
        raise WireError(ErrorCode.WRONG_SHAPE, f"{name} must have shape {expected_text}, got {shape}")
    if not isinstance(data, bytes):
        raise WireError(ErrorCode.MALFORMED, f"{name} data must be bytes")
    dtype = WIRE_DTYPES[expected_dtype]
    expected_bytes = math.prod(shape) * dtype.itemsize
    if len(data) != expected_bytes:
        raise WireError(
            ErrorCode.WRONG_SHAPE,
            f"{name} of shape {shape} and dtype {expected_dtype} needs {expected_bytes} bytes, got {len(data)}",
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _is_shape(shape: Any) -> bool:
    return (
        isinstance(shape, list)
        and len(shape) <= MAX_TENSOR_DIMS
        and all(isinstance(size, int) and not isinstance(size, bool) and 0 <= size < 2**40 for size in shape)
    )


def _shape_matches(shape: list[int], expected: Sequence[int | None]) -> bool:
    return len(shape) == len(expected) and all(
        want is None or want == got for got, want in zip(shape, expected, strict=True)
    )
