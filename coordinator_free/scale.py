"""Parameters that adapt to network size, and the network's phase (DESIGN.md §7).

`n` counts the nodes a node can see, itself included, so it is at least 1.
Every rule reads the §7 table through `constants.py`: each table is a run of
(upper bound of n, exclusive; value) pairs, then a value for larger n. So
n = 4 has a min quorum size of 1 and n = 5 of 2; n = 19 is still "small".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from .constants import (
    GROWTH_THRESHOLD_BASE,
    GROWTH_THRESHOLD_PER_DOUBLING,
    MIN_QUORUM_SIZE_LARGE,
    MIN_QUORUM_SIZE_TABLE,
    PHASES,
    QUORUM_SESSION_CAP_S,
    QUORUM_SESSION_LARGE_S,
    QUORUM_SESSION_TABLE_S,
    REPLICAS_PER_LAYER_LARGE,
    REPLICAS_PER_LAYER_TABLE,
    SPOT_CHECK_PROBABILITY_LARGE,
    SPOT_CHECK_PROBABILITY_TABLE,
    SYNC_INTERVAL_BATCHES_LARGE,
    SYNC_INTERVAL_BATCHES_TABLE,
)
from .errors import ProtocolError

Value = TypeVar("Value", int, float)


class NetworkPhase(IntEnum):
    """Phases in the order the network passes through them as it grows."""

    GENESIS = 1
    MICRO = 2
    SMALL = 3
    MEDIUM = 4
    GROWING = 5
    LARGE = 6
    MASSIVE = 7


_PHASE_BY_NAME = {phase.name.lower(): phase for phase in NetworkPhase}


@dataclass(frozen=True)
class ScaleParameters:
    """Every size-dependent parameter for one network size, read once per decision."""

    network_size: int  # nodes seen, self included
    phase: NetworkPhase
    min_quorum_size: int  # members a quorum must have
    target_replicas_per_layer: int  # holders each layer should have (also the minimum)
    sync_interval_batches: int  # batches between DiLoCo cohort syncs
    spot_check_probability: float  # chance a PoNW proof is challenged
    quorum_session_s: float  # length of one quorum session, seconds
    growth_threshold: float  # network memory / model memory needed to grow


def _check_size(network_size: int) -> None:
    if network_size < 1:
        raise ProtocolError(f"network_size must be >= 1 (the node counts itself), got {network_size}")


def _lookup(network_size: int, table: Sequence[tuple[int, Value]], beyond: Value) -> Value:
    _check_size(network_size)
    for upper_bound_exclusive, value in table:
        if network_size < upper_bound_exclusive:
            return value
    return beyond


def min_quorum_size(network_size: int) -> int:
    return _lookup(network_size, MIN_QUORUM_SIZE_TABLE, MIN_QUORUM_SIZE_LARGE)


def target_replicas_per_layer(network_size: int) -> int:
    return _lookup(network_size, REPLICAS_PER_LAYER_TABLE, REPLICAS_PER_LAYER_LARGE)


def sync_interval_batches(network_size: int) -> int:
    return _lookup(network_size, SYNC_INTERVAL_BATCHES_TABLE, SYNC_INTERVAL_BATCHES_LARGE)


def spot_check_probability(network_size: int) -> float:
    return _lookup(network_size, SPOT_CHECK_PROBABILITY_TABLE, SPOT_CHECK_PROBABILITY_LARGE)


def quorum_session_s(network_size: int) -> float:
    """Session length; never beyond the session cap whatever the table says."""
    session_s = _lookup(network_size, QUORUM_SESSION_TABLE_S, QUORUM_SESSION_LARGE_S)
    return min(session_s, QUORUM_SESSION_CAP_S)


def growth_threshold(network_size: int) -> float:
    """1.5 + 0.1·log2(n): a bigger network keeps more spare memory before it grows."""
    _check_size(network_size)
    return GROWTH_THRESHOLD_BASE + GROWTH_THRESHOLD_PER_DOUBLING * math.log2(max(1, network_size))


def network_phase(network_size: int) -> NetworkPhase:
    _check_size(network_size)
    current = NetworkPhase.GENESIS
    for first_size, name in PHASES:
        if network_size >= first_size:
            current = _PHASE_BY_NAME[name.lower()]
    return current


def scale_parameters(network_size: int) -> ScaleParameters:
    return ScaleParameters(
        network_size=network_size,
        phase=network_phase(network_size),
        min_quorum_size=min_quorum_size(network_size),
        target_replicas_per_layer=target_replicas_per_layer(network_size),
        sync_interval_batches=sync_interval_batches(network_size),
        spot_check_probability=spot_check_probability(network_size),
        quorum_session_s=quorum_session_s(network_size),
        growth_threshold=growth_threshold(network_size),
    )
