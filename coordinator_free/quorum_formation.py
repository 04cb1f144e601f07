"""Forming a quorum: a speed-matched group that covers every layer (DESIGN.md §8).

The *founder* (DESIGN's "initiator" of the formation; the pipeline initiator
is whoever ends up running layer 0) grows one contiguous block of layers from
the range it holds. Each step adds the free candidate with the best
`new_layers_covered / (1 + latency_ms / 100)`, where new layers are those it
extends the block by, on one side (a member runs one contiguous run, so a
candidate that reaches past both ends can only extend one; the larger side
wins, the right on a tie). Ties between candidates go to the smaller node id.
Formation fails when the block stops growing before it covers [0, L).

Choices DESIGN leaves open:

- Compatibility is pairwise (see tiers.py), so a quorum lies in one window
  of two adjacent tiers. Formation runs once per window that contains the
  founder's tier ({t-1, t} and {t, t+1}, clipped to T1-T4) and keeps the
  complete result with the smallest bottleneck stage time, then fewer
  members, then lower summed latency, then the faster window.
- Min quorum size (§7) is capped at the layer count (each member runs at
  least one layer). When coverage needs fewer members, the best-scoring
  free candidates (layers held / latency factor, then node id) join where
  a valid stage cut exists, at the position with the smallest bottleneck.
- Stages are cut by `pipeline_layout.balanced_stages` (speed-proportional).
- `excluded` is how the founder "retries with alternates": pass the nodes
  that refused the last proposal.
- Unmeasured latency counts as `FORMATION_UNKNOWN_LATENCY_MS`.

Cost: O(C) work per greedy step (C = candidates in the view), at most L
steps; plain Python loops for small views, numpy beyond (see
quorum_formation_pool.py), plus a scan of tied candidates' ids. The
simulator keeps it cheap by passing a view of free candidates only, with
the network size it stands for as `network_size`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from .errors import ProtocolError
from .network_view import LayerRange, NetworkView, NodeView
from .pipeline_layout import balanced_bottleneck_ms, balanced_stages
from .quorum_formation_pool import (
    SMALL_VIEW_NODES,
    Availability,
    CandidatePool,
    candidate_pool,
)
from .scale import min_quorum_size, quorum_session_s
from .tiers import SLOWEST_PIPELINE_TIER, Tier, is_pipeline_tier, tier_by_number
from .types import NodeId, QuorumId


@dataclass(frozen=True)
class QuorumMember:
    node_id: NodeId
    stage: LayerRange  # the layers it runs in this quorum (within those it holds)
    tier: Tier
    speed_ms_per_layer: float  # its benchmark, for stage balancing and replacement


@dataclass(frozen=True)
class QuorumProposal:
    """What the founder signs and sends to every member; all must accept."""

    quorum_id: QuorumId
    founder: NodeId
    members: tuple[QuorumMember, ...]  # pipeline order: layer 0 first, the head last
    tier: Tier  # the slowest member's tier
    created_at_s: float  # the founder's clock when it proposed
    session_s: float  # session length

    @property
    def initiator(self) -> NodeId:
        return self.members[0].node_id

    @property
    def finisher(self) -> NodeId:
        return self.members[-1].node_id

    @property
    def layer_map(self) -> Mapping[NodeId, LayerRange]:
        return {member.node_id: member.stage for member in self.members}


class FormationFailureReason(Enum):
    FOUNDER_UNAVAILABLE = "founder_unavailable"  # T5, no layers, busy, or not in the view
    UNCOVERED_LAYERS = "uncovered_layers"  # some layer has no usable candidate
    TOO_FEW_MEMBERS = "too_few_members"  # coverage is complete but min size is not met


@dataclass(frozen=True)
class FormationFailure:
    reason: FormationFailureReason
    detail: str  # for the log: what was missing, with numbers
    missing_layers: tuple[int, ...] = ()  # layers the best attempt could not cover


FormationResult = QuorumProposal | FormationFailure


def form_quorum(
    founder_id: NodeId,
    view: NetworkView,
    *,
    now_s: float,
    latency_ms: Mapping[NodeId, float],
    excluded: frozenset[NodeId] = frozenset(),
    network_size: int | None = None,
    small_view_nodes: int = SMALL_VIEW_NODES,
) -> FormationResult:
    """A proposal covering every layer, or why none exists in `view` right now.

    `network_size` is n for the §7 min quorum size and session length; it
    defaults to `view.size`. Pass it when the view is a sample (a founder at
    internet scale sees only the free candidates it looked up).
    `small_view_nodes` only picks how the candidates are scanned (plain
    Python up to that view size, numpy beyond; quorum_formation_pool.py):
    the result is the same either way.
    """
    size = view.size if network_size is None else network_size
    if size < view.size:
        raise ProtocolError(f"network_size {size} is smaller than the {view.size} nodes in the view")
    founder = view.by_id.get(founder_id)
    problem = _founder_problem(founder_id, founder, view)
    if problem is not None or founder is None:
        return FormationFailure(FormationFailureReason.FOUNDER_UNAVAILABLE, problem or "")
    pool = candidate_pool(founder, view, latency_ms, excluded, small_view_nodes=small_view_nodes)
    minimum = min(min_quorum_size(size), view.layer_count)
    attempts = [_attempt(founder, pool, frozenset(window), minimum) for window in _tier_windows(founder.tier)]
    layouts = [attempt for attempt in attempts if isinstance(attempt, _Layout)]
    if not layouts:
        failures = [attempt for attempt in attempts if isinstance(attempt, FormationFailure)]
        return min(failures, key=lambda failure: len(failure.missing_layers))
    best = min(layouts, key=lambda layout: layout.rank)
    return _proposal(founder, _members(founder, pool, best), now_s=now_s, session_s=quorum_session_s(size))


def _founder_problem(founder_id: NodeId, founder: NodeView | None, view: NetworkView) -> str | None:
    if founder is None:
        return f"founder {founder_id} is not in the view"
    if not is_pipeline_tier(founder.tier):
        return f"founder {founder_id} is {founder.tier.name}: async only, never in a quorum"
    if founder.in_quorum:
        return f"founder {founder_id} is already in quorum {founder.quorum_id}"
    if founder.layer_range is None or founder.layer_range.start >= view.layer_count:
        return f"founder {founder_id} holds no layer of this {view.layer_count}-layer model"
    return None


def _tier_windows(tier: Tier) -> list[set[int]]:
    lower = {max(int(Tier.T1), tier - 1), int(tier)}
    upper = {int(tier), min(int(SLOWEST_PIPELINE_TIER), tier + 1)}
    return [lower] if lower == upper else [lower, upper]


@dataclass(frozen=True)
class _Layout:
    """One attempt's complete quorum; stages and members are made only for the winner."""

    order: tuple[int, ...]  # pool indices in pipeline order, the founder as -1
    held: tuple[LayerRange, ...]  # what each holds
    speeds_ms_per_layer: tuple[float, ...]
    rank: tuple[float, int, float, int]  # bottleneck ms, size, latency sum, window


def _attempt(
    founder: NodeView, pool: CandidatePool, window: frozenset[int], minimum: int
) -> _Layout | FormationFailure:
    """Formation within one tier window: grow the block, then reach the min size."""
    available = pool.available_in(window)
    order = _grow_block(founder, pool, available)
    if isinstance(order, FormationFailure):
        return order
    while len(order) < minimum:
        grown = _add_member(founder, pool, available, order)
        if grown is None:
            return FormationFailure(
                FormationFailureReason.TOO_FEW_MEMBERS,
                f"tiers {sorted(window)}: only {len(order)} members fit, min quorum size is {minimum}",
            )
        order = grown
    layout = _layout(founder, pool, order, window)
    if layout is None:  # cannot happen: a grown block always has a valid cut
        raise ProtocolError(f"internal: no stage cut for a complete block {order}")
    return layout


def _grow_block(founder: NodeView, pool: CandidatePool, available: Availability) -> list[int] | FormationFailure:
    """Greedy coverage; marks picked candidates unavailable. Pipeline order, founder as -1."""
    layer_count = pool.layer_count
    founder_range = _founder_range(founder)
    low, high = founder_range.start, min(founder_range.stop, layer_count)
    order = [-1]
    while low > 0 or high < layer_count:
        found = pool.best_extension(available, low, high)
        if found is None:
            return FormationFailure(
                FormationFailureReason.UNCOVERED_LAYERS,
                f"no free compatible holder extends layers [{low}, {high}) of {layer_count}",
                missing_layers=(*range(low), *range(high, layer_count)),
            )
        pick, left, right = found
        available[pick] = False
        if right >= left:
            high = int(pool.stops[pick])
            order.append(pick)
        else:
            low = int(pool.starts[pick])
            order.insert(0, pick)
    return order


def _add_member(
    founder: NodeView, pool: CandidatePool, available: Availability, order: list[int]
) -> list[int] | None:
    """The order with one more member where a valid stage cut exists, or None."""
    held = speeds = None
    key = tuple(order)
    while True:
        pick = pool.best_extra(available)
        if pick is None:
            return None
        available[pick] = False
        # Both tier windows often try the same pick on the same order: the trial depends on
        # nothing else, so the second window reuses the first's position.
        best_position = pool.insertions.get((key, pick))
        if best_position is None:
            if held is None:
                held, speeds = _held_and_speeds(founder, pool, order)
            best_position = pool.insertions[(key, pick)] = _best_position(pool, held, speeds, pick)
        if best_position >= 0:
            return [*order[:best_position], pick, *order[best_position:]]


def _best_position(pool: CandidatePool, held: list[LayerRange], speeds: list[float], pick: int) -> int:
    """Where `pick` joins the order (held, speeds) with the smallest bottleneck, or -1."""
    pick_held, pick_speed = pool.held(pick), float(pool.speeds_ms_per_layer[pick])
    best_position, best_ms = -1, math.inf
    # balanced_cuts refuses an order whose first member misses layer 0 or whose last
    # misses the head; the block covers both, so only the pick can: skip those trials.
    first = 0 if pick_held.start == 0 else 1
    last = len(held) + 1 if pick_held.stop >= pool.layer_count else len(held)
    for position in range(first, last):
        held.insert(position, pick_held)
        speeds.insert(position, pick_speed)
        cost_ms = balanced_bottleneck_ms(held, speeds, pool.layer_count)
        del held[position], speeds[position]
        if cost_ms is not None and cost_ms < best_ms:  # first of the smallest bottleneck
            best_position, best_ms = position, cost_ms
    return best_position


def _founder_range(founder: NodeView) -> LayerRange:
    if founder.layer_range is None:  # _founder_problem refuses this before any attempt
        raise ProtocolError(f"founder {founder.node_id} holds no layers")
    return founder.layer_range


def _held_and_speeds(founder: NodeView, pool: CandidatePool, order: Sequence[int]) -> tuple[list[LayerRange], list[float]]:
    held = [_founder_range(founder) if i < 0 else pool.held(i) for i in order]
    speeds = [founder.speed_ms_per_layer if i < 0 else float(pool.speeds_ms_per_layer[i]) for i in order]
    return held, speeds


def _layout(
    founder: NodeView, pool: CandidatePool, order: Sequence[int], window: frozenset[int] = frozenset()
) -> _Layout | None:
    held, speeds = _held_and_speeds(founder, pool, order)
    slowest_ms = balanced_bottleneck_ms(held, speeds, pool.layer_count)
    if slowest_ms is None:
        return None
    latency_sum = sum(float(pool.latency_factors[i]) for i in order if i >= 0)
    rank = (slowest_ms, len(order), latency_sum, min(window, default=0))
    return _Layout(order=tuple(order), held=tuple(held), speeds_ms_per_layer=tuple(speeds), rank=rank)


def _members(founder: NodeView, pool: CandidatePool, layout: _Layout) -> tuple[QuorumMember, ...]:
    stages = balanced_stages(layout.held, layout.speeds_ms_per_layer, pool.layer_count)
    if stages is None:  # cannot happen: _layout found this order's cut
        raise ProtocolError(f"internal: no stage cut for the chosen order {layout.order}")
    return tuple(
        QuorumMember(
            node_id=founder.node_id if i < 0 else pool.node_id(i),
            stage=stage,
            tier=founder.tier if i < 0 else tier_by_number(int(pool.tiers[i])),
            speed_ms_per_layer=speed,
        )
        for i, stage, speed in zip(layout.order, stages, layout.speeds_ms_per_layer, strict=True)
    )


def _proposal(
    founder: NodeView, members: tuple[QuorumMember, ...], *, now_s: float, session_s: float
) -> QuorumProposal:
    """Deterministic id: the same founder, time and members give the same quorum id."""
    text = "|".join([founder.node_id, repr(float(now_s)), *(m.node_id for m in members)])
    return QuorumProposal(
        quorum_id=QuorumId(hashlib.sha256(text.encode()).hexdigest()),
        founder=founder.node_id,
        members=members,
        tier=max(member.tier for member in members),
        created_at_s=now_s,
        session_s=session_s,
    )
