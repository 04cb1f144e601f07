"""Scarcity scores and layer claims (§14, §10)."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator_free.claims import (
    choose_layer_claim,
    scarcity_of_layer,
    scarcity_scores,
)
from coordinator_free.errors import ProtocolError
from coordinator_free.network_view import LayerRange


@pytest.mark.parametrize(
    ("holders", "target", "expected"),
    [
        # interior layers: (target - holders) / target, 0 at or above target
        ([3, 0, 1, 2, 3, 5, 3], 3, [0.0, 1.0, 2 / 3, 1 / 3, 0.0, 0.0, 0.0]),
        # first and last × 1.5: 1/3 -> 0.5, 2/3 -> 1.0 (the cap)
        ([2, 3, 1], 3, [0.5, 0.0, 1.0]),
        # capped at 1: an empty edge layer is 1.5 before the cap
        ([0, 0, 0], 2, [1.0, 1.0, 1.0]),
        ([1, 1, 1], 2, [0.75, 0.5, 0.75]),
        # one-layer model: the factor applies once
        ([1], 4, [1.0]),
        ([3], 4, [0.375]),
        # target 1 (n < 5): held layers are never scarce
        ([1, 0, 1], 1, [0.0, 1.0, 0.0]),
    ],
)
def test_scarcity_scores(holders: list[int], target: int, expected: list[float]) -> None:
    assert scarcity_scores(np.array(holders), target) == pytest.approx(expected)


def test_scarcity_of_one_layer() -> None:
    assert scarcity_of_layer(1, np.array([3, 1, 3]), 3) == pytest.approx(2 / 3)
    with pytest.raises(ProtocolError, match="outside"):
        scarcity_of_layer(3, np.array([3, 1, 3]), 3)


@pytest.mark.parametrize(
    ("holders", "target", "message"),
    [([], 3, "non-empty"), ([1, -1], 3, ">= 0"), ([1, 1], 0, "target_replicas")],
)
def test_scarcity_refuses_bad_input(holders: list[int], target: int, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        scarcity_scores(np.array(holders, dtype=np.int64), target)


@pytest.mark.parametrize(
    ("max_layers", "holders", "target", "expected"),
    [
        # the scarcest window of 3 layers
        (3, [3, 3, 3, 3, 0, 0, 1, 3, 3, 3, 3], 3, LayerRange(4, 7)),
        # the edge factor pulls a claim onto the head layer
        (2, [3, 3, 2, 3, 3, 2], 3, LayerRange(4, 6)),
        # everything at target: fewest holders wins
        (2, [3, 4, 4, 3, 3, 5], 3, LayerRange(3, 5)),
        # full tie: lowest start
        (2, [3, 3, 3, 3], 3, LayerRange(0, 2)),
        # genesis: empty network, claim from layer 0 as far as memory goes
        (4, [0] * 11, 1, LayerRange(0, 4)),
        # enough memory for the whole model
        (40, [1] * 11, 3, LayerRange(0, 11)),
    ],
)
def test_choose_layer_claim(max_layers: int, holders: list[int], target: int, expected: LayerRange) -> None:
    assert choose_layer_claim(max_layers, np.array(holders), target) == expected


def test_no_memory_no_claim() -> None:
    assert choose_layer_claim(0, np.array([0, 0]), 2) is None
    with pytest.raises(ProtocolError, match="max_layers"):
        choose_layer_claim(-1, np.array([0, 0]), 2)


def test_claims_fill_an_empty_model_evenly() -> None:
    """Nodes joining one by one with room for 3 of 11 layers end with every layer held."""
    holders = np.zeros(11, dtype=np.int64)
    for _ in range(12):
        claim = choose_layer_claim(3, holders, 3)
        assert claim is not None
        holders[claim.start : claim.stop] += 1
    assert holders.min() >= 3
    assert scarcity_scores(holders, 3).max() == 0.0
