"""Tiers, compatibility and max layers, with DESIGN.md §4's numbers."""

from __future__ import annotations

import math

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.tiers import (
    Tier,
    are_tiers_compatible,
    is_pipeline_tier,
    is_tier_group_compatible,
    layer_memory_bytes,
    max_layers_for_memory,
    tier_from_speed,
)


@pytest.mark.parametrize(
    ("speed_ms", "tier"),
    [
        (0.1, Tier.T1),
        (9.999, Tier.T1),
        (10.0, Tier.T2),
        (49.9, Tier.T2),
        (50.0, Tier.T3),
        (199.9, Tier.T3),
        (200.0, Tier.T4),
        (999.9, Tier.T4),
        (1000.0, Tier.T5),
        (60_000.0, Tier.T5),
    ],
)
def test_tier_from_speed_uses_upper_exclusive_bounds(speed_ms: float, tier: Tier) -> None:
    assert tier_from_speed(speed_ms) is tier


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_tier_from_speed_rejects_impossible_measurements(bad: float) -> None:
    with pytest.raises(ProtocolError, match="speed_ms_per_layer"):
        tier_from_speed(bad)


COMPATIBLE = {
    Tier.T1: {Tier.T1, Tier.T2},
    Tier.T2: {Tier.T1, Tier.T2, Tier.T3},
    Tier.T3: {Tier.T2, Tier.T3, Tier.T4},
    Tier.T4: {Tier.T3, Tier.T4},
    Tier.T5: set(),
}


@pytest.mark.parametrize("first", list(Tier))
@pytest.mark.parametrize("second", list(Tier))
def test_compatibility_table(first: Tier, second: Tier) -> None:
    assert are_tiers_compatible(first, second) == (second in COMPATIBLE[first])
    assert are_tiers_compatible(first, second) == are_tiers_compatible(second, first)


@pytest.mark.parametrize(
    ("tiers", "compatible"),
    [
        ([Tier.T1], True),
        ([Tier.T1, Tier.T2, Tier.T2], True),
        ([Tier.T1, Tier.T2, Tier.T3], False),  # T2 accepts both, but T1 and T3 never meet
        ([Tier.T3, Tier.T4], True),
        ([Tier.T4, Tier.T5], False),
        ([Tier.T5], False),
        ([], True),
    ],
)
def test_group_compatibility_is_pairwise(tiers: list[Tier], compatible: bool) -> None:
    assert is_tier_group_compatible(tiers) == compatible


def test_only_t1_to_t4_are_pipeline_tiers() -> None:
    assert [t for t in Tier if is_pipeline_tier(t)] == [Tier.T1, Tier.T2, Tier.T3, Tier.T4]


def test_layer_memory_counts_training_state() -> None:
    assert layer_memory_bytes(1_000) == 16_000
    assert layer_memory_bytes(1_000, training=False) == 4_000


@pytest.mark.parametrize(
    ("free_bytes", "per_layer_bytes", "reserve", "expected"),
    [
        (1000, 100, 0.2, 8),
        (1000, 100, 0.0, 10),
        (999, 100, 0.0, 9),
        (99, 100, 0.0, 0),
        (0, 100, 0.2, 0),
        (8 * 2**30, 50_331_648, 0.2, 136),  # 8 GiB Pi, 12·512² parameters × 16 bytes
    ],
)
def test_max_layers_for_memory(free_bytes: int, per_layer_bytes: int, reserve: float, expected: int) -> None:
    assert max_layers_for_memory(free_bytes, per_layer_bytes, reserve_fraction=reserve) == expected


@pytest.mark.parametrize(
    ("free_bytes", "per_layer_bytes", "reserve", "message"),
    [
        (1000, 0, 0.2, "per_layer_memory_bytes"),
        (-1, 100, 0.2, "free_memory_bytes"),
        (1000, 100, 1.0, "reserve_fraction"),
    ],
)
def test_max_layers_rejects_bad_input(
    free_bytes: int, per_layer_bytes: int, reserve: float, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        max_layers_for_memory(free_bytes, per_layer_bytes, reserve_fraction=reserve)
