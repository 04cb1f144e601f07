"""Speed tiers and what a device can hold (DESIGN.md §4).

A tier comes from `compute_speed_ms`, the median time of one layer's forward
pass on the reference micro-batch. Bounds are upper-exclusive: 10 ms is T2,
1000 ms is T5, so a device measured exactly on a bound lands in the slower
tier (the conservative side for a pipeline that waits for its slowest stage).

Compatibility is a symmetric relation (the DESIGN table is symmetric). A
quorum needs every pair of its members compatible, not only each member with
the founder: with the table that means a quorum spans at most two adjacent
tiers (T1+T3 never meet, even through a T2).

`max_layers` counts transformer blocks. DESIGN only says it follows from free
memory and the layer size; the choice here: a fixed share of free memory is
kept back for the runtime, activations and the OS
(`MEMORY_RESERVE_FRACTION`), and a training node needs weights, gradients and
AdamW's two moments per parameter (`TRAINING_BYTES_PER_PARAMETER`, fp32 ×4),
a forward-only node only the weights (`INFERENCE_BYTES_PER_PARAMETER`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import IntEnum

from .constants import (
    INFERENCE_BYTES_PER_PARAMETER,
    MEMORY_RESERVE_FRACTION,
    TIER_COMPATIBILITY,
    TIER_UPPER_BOUNDS_MS,
    TRAINING_BYTES_PER_PARAMETER,
)
from .errors import ProtocolError


class Tier(IntEnum):
    """Speed tier; compares and hashes as its number, so constants keyed 1..5 apply."""

    T1 = 1
    T2 = 2
    T3 = 3
    T4 = 4
    T5 = 5


_BY_NUMBER = (None, *Tier)  # Tier(n) runs the enum machinery; an index does not
_TIER_COUNT = len(Tier)


def tier_by_number(number: int) -> Tier:
    """Tier(number), fast (rules build thousands of records per decision)."""
    if not 1 <= number <= _TIER_COUNT:
        raise ProtocolError(f"tier numbers are 1..{_TIER_COUNT}, got {number}")
    return _BY_NUMBER[number]


FASTEST_PIPELINE_TIER = Tier.T1
SLOWEST_PIPELINE_TIER = Tier.T4  # T5 is async only


def tier_from_speed(speed_ms_per_layer: float) -> Tier:
    """The tier of a device whose one-layer forward pass takes `speed_ms_per_layer`."""
    if not math.isfinite(speed_ms_per_layer) or speed_ms_per_layer <= 0.0:
        raise ProtocolError(
            f"speed_ms_per_layer must be a finite positive number of milliseconds, "
            f"got {speed_ms_per_layer!r}; re-run the benchmark"
        )
    for tier_number, upper_bound_ms in enumerate(TIER_UPPER_BOUNDS_MS, start=1):
        if speed_ms_per_layer < upper_bound_ms:
            return _BY_NUMBER[tier_number]
    return Tier.T5


def are_tiers_compatible(first: Tier, second: Tier) -> bool:
    """Whether two tiers may sit in the same quorum (T5 never may)."""
    return int(second) in TIER_COMPATIBILITY[int(first)]


def is_tier_group_compatible(tiers: Iterable[Tier]) -> bool:
    """Whether every pair of `tiers` is compatible: the rule for a whole quorum."""
    distinct = sorted(set(tiers))
    return all(
        are_tiers_compatible(first, second)
        for index, first in enumerate(distinct)
        for second in distinct[index:]
    )


def is_pipeline_tier(tier: Tier) -> bool:
    """Whether a tier may be a quorum member at all (T1-T4)."""
    return bool(TIER_COMPATIBILITY[int(tier)])


def layer_memory_bytes(parameter_count: int, *, training: bool = True) -> int:
    """Memory one layer needs: weights only to run it, plus gradients and AdamW state to train."""
    if parameter_count < 0:
        raise ProtocolError(f"parameter_count must be >= 0, got {parameter_count}")
    per_parameter = TRAINING_BYTES_PER_PARAMETER if training else INFERENCE_BYTES_PER_PARAMETER
    return parameter_count * per_parameter


def max_layers_for_memory(
    free_memory_bytes: int,
    per_layer_memory_bytes: int,
    *,
    reserve_fraction: float = MEMORY_RESERVE_FRACTION,
) -> int:
    """How many layers fit in `free_memory_bytes` after keeping `reserve_fraction` back."""
    if per_layer_memory_bytes <= 0:
        raise ProtocolError(
            f"per_layer_memory_bytes must be > 0, got {per_layer_memory_bytes}; "
            "compute it with layer_memory_bytes()"
        )
    if free_memory_bytes < 0:
        raise ProtocolError(f"free_memory_bytes must be >= 0, got {free_memory_bytes}")
    if not 0.0 <= reserve_fraction < 1.0:
        raise ProtocolError(f"reserve_fraction must be in [0, 1), got {reserve_fraction}")
    usable_bytes = free_memory_bytes * (1.0 - reserve_fraction)
    return int(usable_bytes // per_layer_memory_bytes)
