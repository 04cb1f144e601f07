"""Formation's candidate pool and its two scans, vectorised or in plain Python (§8).

`quorum_formation` reads the free, tier-compatible candidates of a view as
columns and scans them, over and over, for the candidate that extends the
founder's block best and for the best extra member. A founder usually
looks at a few dozen candidates (the simulator hands formation 24; a live
founder looks up a similar number of free holders), and there numpy's fixed
cost per call — a dozen calls per scan, about a microsecond each — is most
of the work. So a view of at most `SMALL_VIEW_NODES` nodes becomes a pool of
Python lists scanned by loops; a larger one stays numpy columns.

Both compute the same IEEE doubles in the same order (a layer count over
`1 + latency_ms / 100`), treat ties the same way (the smallest node id among
equal scores) and so pick the same candidates; tests run both on random
views and compare the proposals.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .constants import FORMATION_LATENCY_SCALE_MS, FORMATION_UNKNOWN_LATENCY_MS
from .network_view import LayerRange, NetworkView, NodeView
from .tiers import SLOWEST_PIPELINE_TIER
from .types import NodeId

# Views up to this size get the plain-Python pool: at 25 nodes it forms a quorum about
# 3x faster than numpy; at a few hundred numpy wins. An implementation choice, not a rule.
SMALL_VIEW_NODES = 96

Availability = np.ndarray | list[bool]  # per candidate: may still be picked in this attempt


@dataclass(frozen=True)
class CandidatePool:
    """Free, pipeline-tier candidates near the founder's tier, as columns (lists or numpy)."""

    view: NetworkView  # ids are looked up lazily: only ties need them
    layer_count: int  # layers to cover
    positions: Sequence[int]  # index of each candidate in view.nodes
    starts: Sequence[int]  # first layer held
    stops: Sequence[int]  # one past the last layer held, clipped to layer_count
    tiers: Sequence[int]  # 1..4
    speeds_ms_per_layer: Sequence[float]
    latency_factors: Sequence[float]  # 1 + latency_ms / 100
    held_scores: Sequence[float]  # layers held / latency factor: the score of an extra member
    vectorised: bool  # numpy columns (True) or Python lists (False)
    held_ranges: dict[int, LayerRange] = field(default_factory=dict)  # built on first use
    # (order, pick) -> where formation inserts the extra member `pick` (-1: nowhere); the
    # tier windows share it. Filled by quorum_formation._add_member.
    insertions: dict[tuple[tuple[int, ...], int], int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.positions)

    def node_id(self, index: int) -> NodeId:
        return self.view.nodes[int(self.positions[index])].node_id

    def held(self, index: int) -> LayerRange:
        """Candidate `index`'s range, clipped to the model (one LayerRange per candidate)."""
        held = self.held_ranges.get(index)
        if held is None:
            held = self.held_ranges[index] = LayerRange(int(self.starts[index]), int(self.stops[index]))
        return held

    def available_in(self, window: Collection[int]) -> Availability:
        """Which candidates an attempt within this tier window may pick (all not yet picked)."""
        if not self.vectorised:
            return [tier in window for tier in self.tiers]
        tiers = np.asarray(self.tiers)
        available = np.zeros(tiers.size, dtype=bool)
        for tier in window:  # at most two tiers: cheaper than np.isin on a short array
            available |= tiers == tier
        return available

    def best_extension(self, available: Availability, low: int, high: int) -> tuple[int, int, int] | None:
        """(candidate, layers it adds below `low`, above `high`) with the best score, or None.

        Score: the larger of the two extensions (a member runs one contiguous
        run) over its latency factor; the highest positive score wins, then
        the smallest node id.
        """
        if self.vectorised:
            return self._best_extension_numpy(np.asarray(available), low, high)
        starts, stops, factors = self.starts, self.stops, self.latency_factors
        best, best_score, best_left, best_right = -1, 0.0, 0, 0
        for index, free in enumerate(available):
            if not free:
                continue
            start, stop = starts[index], stops[index]
            left = low - start if start < low <= stop else 0
            right = stop - high if start <= high < stop else 0
            if left == 0 and right == 0:
                continue
            score = max(left, right) / factors[index]
            if score > best_score or (
                score == best_score and best >= 0 and self.node_id(index) < self.node_id(best)
            ):
                best, best_score, best_left, best_right = index, score, left, right
        return None if best < 0 else (best, best_left, best_right)

    def _best_extension_numpy(self, available: np.ndarray, low: int, high: int) -> tuple[int, int, int] | None:
        starts, stops = np.asarray(self.starts), np.asarray(self.stops)
        left = np.where(available & (starts < low) & (stops >= low), low - starts, 0)
        right = np.where(available & (starts <= high) & (stops > high), stops - high, 0)
        pick = self._best_index_numpy(np.maximum(left, right) / np.asarray(self.latency_factors))
        return None if pick is None else (pick, int(left[pick]), int(right[pick]))

    def best_extra(self, available: Availability) -> int | None:
        """The available candidate with the highest held score (then smallest id), or None."""
        if self.vectorised:
            return self._best_index_numpy(np.where(np.asarray(available), np.asarray(self.held_scores), 0.0))
        scores = self.held_scores
        best, best_score = -1, 0.0
        for index, free in enumerate(available):
            if not free:
                continue
            score = scores[index]
            if score > best_score or (
                score == best_score and best >= 0 and self.node_id(index) < self.node_id(best)
            ):
                best, best_score = index, score
        return None if best < 0 else best

    def _best_index_numpy(self, scores: np.ndarray) -> int | None:
        """Highest positive score, smallest node id among equals."""
        if scores.size == 0:
            return None
        best = scores.max()
        if best <= 0.0:
            return None
        tied = np.flatnonzero(scores == best)
        return int(tied[0]) if tied.size == 1 else int(min(tied, key=self.node_id))


def candidate_pool(
    founder: NodeView,
    view: NetworkView,
    latency_ms: Mapping[NodeId, float],
    excluded: frozenset[NodeId],
    *,
    small_view_nodes: int = SMALL_VIEW_NODES,
) -> CandidatePool:
    """The founder's candidates: free holders of a layer, of a pipeline tier within one of its own."""
    if len(view.nodes) > small_view_nodes:
        return _numpy_pool(founder, view, latency_ms, excluded)
    layer_count, founder_tier = view.layer_count, int(founder.tier)
    skipped = {founder.node_id, *excluded}
    lowest_tier, highest_tier = founder_tier - 1, min(founder_tier + 1, int(SLOWEST_PIPELINE_TIER))
    positions, starts, stops, tiers, speeds, factors, scores = [], [], [], [], [], [], []
    latency_of = latency_ms.get
    for position, node in enumerate(view.nodes):
        held = node.layer_range
        if held is None or node.quorum_id is not None:
            continue
        start, tier, node_id = held.start, int(node.tier), node.node_id
        if start >= layer_count or not lowest_tier <= tier <= highest_tier or node_id in skipped:
            continue
        stop = held.stop
        if stop > layer_count:
            stop = layer_count
        factor = 1.0 + latency_of(node_id, FORMATION_UNKNOWN_LATENCY_MS) / FORMATION_LATENCY_SCALE_MS
        positions.append(position)
        starts.append(start)
        stops.append(stop)
        tiers.append(tier)
        speeds.append(node.speed_ms_per_layer)
        factors.append(factor)
        scores.append((stop - start) / factor)
    return CandidatePool(
        view=view,
        layer_count=layer_count,
        positions=positions,
        starts=starts,
        stops=stops,
        tiers=tiers,
        speeds_ms_per_layer=speeds,
        latency_factors=factors,
        held_scores=scores,
        vectorised=False,
    )


def _numpy_pool(
    founder: NodeView, view: NetworkView, latency_ms: Mapping[NodeId, float], excluded: frozenset[NodeId]
) -> CandidatePool:
    """Vectorised over the view; Python work only per excluded node and latency entry."""
    columns = view.columns
    near = np.abs(columns.tiers - int(founder.tier)) <= 1
    mask = (
        (columns.stops > columns.starts)
        & ~columns.in_quorum
        & near
        & (columns.tiers <= SLOWEST_PIPELINE_TIER)
    )
    for node_id in (founder.node_id, *excluded):
        position = view.position_of.get(node_id)
        if position is not None:
            mask[position] = False
    latencies = np.full(len(view.nodes), FORMATION_UNKNOWN_LATENCY_MS)
    for node_id, measured_ms in latency_ms.items():
        position = view.position_of.get(node_id)
        if position is not None:
            latencies[position] = measured_ms
    positions = np.flatnonzero(mask)
    starts, stops = columns.starts[positions], columns.stops[positions]
    latency_factors = 1.0 + latencies[positions] / FORMATION_LATENCY_SCALE_MS
    return CandidatePool(
        view=view,
        layer_count=view.layer_count,
        positions=positions,
        starts=starts,
        stops=stops,
        tiers=columns.tiers[positions],
        speeds_ms_per_layer=columns.speeds_ms_per_layer[positions],
        latency_factors=latency_factors,
        held_scores=(stops - starts) / latency_factors,
        vectorised=True,
    )
