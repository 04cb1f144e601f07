"""Weights handoff bodies: safetensors + SHA-256, tampering and wrong layouts refused."""

from __future__ import annotations

import numpy as np
import pytest

from agent.cohort.handoff import (
    HandoffError,
    LayerWeights,
    WeightsSnapshot,
    decode_snapshot,
    encode_snapshot,
)

SHAPES = {0: {"embedding.wte.weight": (3, 2)}, 1: {"layers.1.ln1.bias": (2,)}}


def snapshot() -> WeightsSnapshot:
    layers = tuple(
        LayerWeights(layer, {n: np.arange(np.prod(s), dtype=np.float32).reshape(s) for n, s in shapes.items()},
                     {n: np.full(s, 0.5, dtype=np.float32) for n, s in shapes.items()})
        for layer, shapes in SHAPES.items())
    return WeightsSnapshot(last_round=4, start_at_s=1234.5, layers=layers)


def test_round_trip_keeps_every_value():
    body, sha256 = encode_snapshot(snapshot())
    decoded = decode_snapshot(body, sha256, SHAPES)
    assert decoded.last_round == 4 and decoded.start_at_s == 1234.5
    for original, received in zip(snapshot().layers, decoded.layers, strict=True):
        for name in original.parameters:
            assert np.array_equal(original.parameters[name], received.parameters[name])
            assert np.array_equal(original.momentum[name], received.momentum[name])


def test_a_tampered_body_is_refused_before_parsing():
    body, sha256 = encode_snapshot(snapshot())
    tampered = body[:-4] + bytes(4)
    with pytest.raises(HandoffError, match="tampered"):
        decode_snapshot(tampered, sha256, SHAPES)


def test_a_body_of_another_layout_is_refused():
    body, sha256 = encode_snapshot(snapshot())
    with pytest.raises(HandoffError, match="lacks"):
        decode_snapshot(body, sha256, {0: {"embedding.wte.weight": (4, 2)}})


def test_garbage_with_a_matching_hash_is_refused():
    import hashlib

    garbage = b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!"
    with pytest.raises(HandoffError, match="not a valid safetensors"):
        decode_snapshot(garbage, hashlib.sha256(garbage).hexdigest(), SHAPES)
