"""Replacement search and the '> 20 % faster' rule (§8)."""

from __future__ import annotations

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.network_view import LayerRange, NetworkView, NodeView
from coordinator_free.quorum_replacement import find_replacement, is_faster_candidate
from coordinator_free.tiers import Tier
from coordinator_free.types import NodeId, QuorumId

STAGE = LayerRange(4, 8)


def node(name: str, start: int, stop: int, speed_ms: float = 20.0, **fields: object) -> NodeView:
    return NodeView(
        node_id=NodeId(name),
        speed_ms_per_layer=speed_ms,
        layer_range=LayerRange(start, stop),
        max_layers=stop - start,
        memory_bytes=10**9,
        **fields,  # type: ignore[arg-type]
    )


def find(*nodes: NodeView, tiers: tuple[Tier, ...] = (Tier.T2, Tier.T2), **kw: object) -> str | None:
    view = NetworkView(nodes=nodes, layer_count=11)
    found = find_replacement(STAGE, tiers, view, **{"latency_ms": {}, **kw})  # type: ignore[arg-type]
    return None if found is None else found.node_id


@pytest.mark.parametrize(
    ("member_ms", "candidate_ms", "faster"),
    [
        (120.0, 100.0, False),  # exactly 20 % more throughput: not more than 20 %
        (120.1, 100.0, True),
        (100.0, 90.0, False),
        (12.0, 5.0, True),
        (100.0, 120.0, False),
    ],
)
def test_faster_candidate_means_more_than_20_percent_throughput(
    member_ms: float, candidate_ms: float, faster: bool
) -> None:
    assert is_faster_candidate(member_ms, candidate_ms) is faster


def test_faster_candidate_refuses_non_positive_speeds() -> None:
    with pytest.raises(ProtocolError, match="speeds"):
        is_faster_candidate(0.0, 10.0)


def test_candidate_must_hold_the_whole_stage() -> None:
    assert find(node("part", 4, 7), node("other", 5, 11)) is None
    assert find(node("part", 4, 7), node("whole", 3, 9)) == "whole"


def test_lowest_latency_then_fastest_then_smallest_id() -> None:
    nodes = (node("b", 4, 8, 20.0), node("a", 4, 8, 20.0), node("fast", 4, 8, 12.0), node("near", 0, 11, 40.0))
    assert find(*nodes, latency_ms={NodeId("near"): 5.0}) == "near"
    assert find(*nodes) == "fast"
    assert find(*nodes[:2]) == "a"


def test_busy_excluded_async_and_incompatible_nodes_are_skipped() -> None:
    nodes = (
        node("busy", 4, 8, quorum_id=QuorumId("q")),
        node("refused", 4, 8),
        node("pi", 4, 8, 2000.0),
        node("t4", 4, 8, 500.0),  # T4 cannot sit with the remaining T2 members
    )
    assert find(*nodes, excluded=frozenset({NodeId("refused")})) is None
    assert find(*nodes) == "refused"
    assert find(*nodes[2:], tiers=(Tier.T3, Tier.T4)) == "t4"


def test_the_replacement_gets_the_stage_not_its_whole_range() -> None:
    view = NetworkView(nodes=(node("whole", 0, 11, 60.0),), layer_count=11)
    found = find_replacement(STAGE, (Tier.T3,), view, latency_ms={})
    assert found is not None and found.stage == STAGE and found.tier is Tier.T3 and found.speed_ms_per_layer == 60.0
