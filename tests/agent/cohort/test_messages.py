"""Δ travels as float16: the receiver decodes exactly the values the sender aggregates itself."""

from __future__ import annotations

import numpy as np
import pytest

from agent.cohort import messages as m
from agent.wire.envelope import pack_body
from agent.wire.errors import WireError

SHAPES = {0: {"layers.0.w": (3, 4)}}


def contribution(delta: np.ndarray) -> m.ContributionMessage:
    return m.ContributionMessage(2, m.KIND_SYNC, 20, 1.0, 2.0, "0" * 64,
                                 (m.LayerDelta(0, "a" * 64, {"layers.0.w": delta}),))


def test_the_decoded_delta_is_bit_identical_to_the_senders_rounded_delta() -> None:
    delta = np.random.default_rng(0).normal(scale=1e-3, size=(3, 4)).astype(np.float32)
    own = m.wire_values(delta)
    assert not np.array_equal(own, delta)  # float16 rounds: the sender must aggregate `own`, not `delta`
    payload = contribution(own).to_payload()
    assert payload["layers"][0]["tensors"]["layers.0.w"]["dtype"] == "float16"
    decoded = m.ContributionMessage.from_payload(payload, SHAPES).layers[0].tensors["layers.0.w"]
    assert decoded.dtype == np.float32 and decoded.tobytes() == own.tobytes()
    float32_bytes = len(pack_body({"t": delta.tobytes()}))
    assert len(pack_body({"t": payload["layers"][0]["tensors"]["layers.0.w"]["data"]})) < float32_bytes


def test_a_delta_beyond_float16_is_clipped_not_inf_and_a_non_finite_one_is_refused() -> None:
    big = np.full((3, 4), 1e6, dtype=np.float32)
    assert np.isfinite(m.wire_values(big)).all()
    payload = contribution(big).to_payload()
    payload["layers"][0]["tensors"]["layers.0.w"]["data"] = np.full((3, 4), np.inf, np.float16).tobytes()
    with pytest.raises(WireError, match="finite"):
        m.ContributionMessage.from_payload(payload, SHAPES)
