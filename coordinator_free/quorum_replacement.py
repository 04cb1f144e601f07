"""Finding a replacement for one quorum member, and when a faster one may take over (§8).

A replacement takes over the departing member's stage unchanged, so the
other members keep their layers and their optimizer state. Choices DESIGN
leaves open:

- A candidate must hold the whole stage, be free, run a pipeline tier and be
  compatible with every *remaining* member (pairwise, as in formation).
- Best candidate: lowest latency factor (1 + latency_ms / 100; unmeasured
  counts as `FORMATION_UNKNOWN_LATENCY_MS`), then fastest, then smallest
  node id. Coverage is fixed, so formation's score reduces to latency.
- "A candidate > 20 % faster" compares throughput: the candidate qualifies
  when its layers per second exceed the member's by more than 20 %, i.e.
  member_ms > 1.2 × candidate_ms. Exactly 20 % does not qualify.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from .constants import (
    FORMATION_LATENCY_SCALE_MS,
    FORMATION_UNKNOWN_LATENCY_MS,
    REPLACEMENT_SPEEDUP_FRACTION,
)
from .errors import ProtocolError
from .network_view import LayerRange, NetworkView
from .quorum_formation import QuorumMember
from .tiers import SLOWEST_PIPELINE_TIER, Tier, is_tier_group_compatible
from .types import NodeId


def is_faster_candidate(
    member_speed_ms_per_layer: float,
    candidate_speed_ms_per_layer: float,
    *,
    speedup_fraction: float = REPLACEMENT_SPEEDUP_FRACTION,
) -> bool:
    """Whether the candidate is more than `speedup_fraction` faster (in throughput) than the member."""
    if member_speed_ms_per_layer <= 0 or candidate_speed_ms_per_layer <= 0:
        raise ProtocolError(
            f"speeds must be > 0 ms per layer, got member {member_speed_ms_per_layer}, "
            f"candidate {candidate_speed_ms_per_layer}"
        )
    return member_speed_ms_per_layer > (1.0 + speedup_fraction) * candidate_speed_ms_per_layer


def find_replacement(
    stage: LayerRange,
    remaining_tiers: Collection[Tier],
    view: NetworkView,
    *,
    latency_ms: Mapping[NodeId, float],
    excluded: frozenset[NodeId] = frozenset(),
) -> QuorumMember | None:
    """The best free node to take over `stage`, or None when nobody fits.

    `remaining_tiers` are the tiers of the members that stay; `excluded` holds
    the members themselves and anyone who already refused.
    """
    if remaining_tiers and not is_tier_group_compatible(remaining_tiers):
        return None
    columns = view.columns
    mask = (
        (columns.starts <= stage.start)
        & (columns.stops >= stage.stop)
        & ~columns.in_quorum
        & (columns.tiers <= int(SLOWEST_PIPELINE_TIER))
    )
    for tier in set(remaining_tiers):
        mask &= np.abs(columns.tiers - int(tier)) <= 1
    for node_id in excluded:
        position = view.position_of.get(node_id)
        if position is not None:
            mask[position] = False
    positions = np.flatnonzero(mask)
    if positions.size == 0:
        return None
    chosen = view.nodes[_best_position(view, positions, latency_ms)]
    return QuorumMember(
        node_id=chosen.node_id, stage=stage, tier=chosen.tier, speed_ms_per_layer=chosen.speed_ms_per_layer
    )


def _best_position(view: NetworkView, positions: np.ndarray, latency_ms: Mapping[NodeId, float]) -> int:
    """Lowest latency, then fastest, then smallest id; numpy until the final tie."""
    latencies = np.full(len(view.nodes), FORMATION_UNKNOWN_LATENCY_MS)
    for node_id, measured_ms in latency_ms.items():
        position = view.position_of.get(node_id)
        if position is not None:
            latencies[position] = measured_ms
    factors = 1.0 + latencies[positions] / FORMATION_LATENCY_SCALE_MS
    positions = positions[factors == factors.min()]
    speeds = view.columns.speeds_ms_per_layer[positions]
    positions = positions[speeds == speeds.min()]
    return int(min(positions.tolist(), key=lambda p: view.nodes[p].node_id))
