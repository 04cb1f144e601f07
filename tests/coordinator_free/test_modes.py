"""Contribution-mode selection (§7) and the concrete 'network needs ...' rules."""

from __future__ import annotations

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.modes import (
    lacking_shards_held,
    network_needs_data_providers,
    network_needs_verifiers,
    select_mode,
    verifiers_needed,
)
from coordinator_free.network_view import LayerRange, Mode, NetworkView, NodeView
from coordinator_free.types import NodeId, ShardId

FAST_MS = 20.0  # T2
PI_MS = 1500.0  # T5
SHARD = ShardId("s1")


def make_node(name: str, **fields: object) -> NodeView:
    values: dict[str, object] = {
        "speed_ms_per_layer": FAST_MS,
        "layer_range": LayerRange(0, 2),
        "max_layers": 2,
        "memory_bytes": 10**9,
    }
    values.update(fields)
    return NodeView(node_id=NodeId(name), **values)  # type: ignore[arg-type]


def network(
    me: NodeView, others: int, *, other_mode: Mode = Mode.PIPELINE, **other_fields: object
) -> NetworkView:
    peers = tuple(make_node(f"peer{i:05d}", mode=other_mode, **other_fields) for i in range(others))
    return NetworkView(nodes=(me, *peers), layer_count=2)


@pytest.mark.parametrize(
    ("n", "needed"),
    [(1, 0), (19, 0), (20, 1), (99, 1), (100, 3), (101, 4), (300, 9), (499, 15), (500, 25), (1000, 50)],
)
def test_verifiers_needed_follows_the_spot_check_rate(n: int, needed: int) -> None:
    assert verifiers_needed(n) == needed


def test_alone_is_solo_whatever_the_tier() -> None:
    me = make_node("me", speed_ms_per_layer=PI_MS)
    assert select_mode(me, network(me, 0), quorum_available=False).mode is Mode.SOLO


def test_t5_trains_async_unless_it_holds_data_the_network_lacks() -> None:
    pi = make_node("pi", speed_ms_per_layer=PI_MS)
    assert select_mode(pi, network(pi, 3), quorum_available=True).mode is Mode.ASYNC
    pi_with_data = make_node("pi", speed_ms_per_layer=PI_MS, shards=frozenset({SHARD}))
    # n = 4: one server per shard wanted; nobody else serves s1
    assert select_mode(pi_with_data, network(pi_with_data, 3), quorum_available=True).mode is Mode.DATA
    served = network(pi_with_data, 3, other_mode=Mode.DATA, shards=frozenset({SHARD}))
    assert select_mode(pi_with_data, served, quorum_available=True).mode is Mode.ASYNC


def test_a_pipeline_tier_joins_a_quorum_when_one_is_open() -> None:
    me = make_node("me", stake=100.0)
    assert select_mode(me, network(me, 30), quorum_available=True).mode is Mode.PIPELINE


def test_without_a_quorum_a_staked_node_verifies_when_verifiers_are_short() -> None:
    me = make_node("me", stake=10.0)
    decision = select_mode(me, network(me, 29), quorum_available=False)  # n = 30: 1 verifier wanted
    assert decision.mode is Mode.VERIFY and "1 verifiers" in decision.reason
    poor = make_node("me", stake=9.99)
    assert select_mode(poor, network(poor, 29), quorum_available=False).mode is Mode.ASYNC
    small = make_node("me", stake=10.0)
    assert select_mode(small, network(small, 18), quorum_available=False).mode is Mode.ASYNC  # n = 19


def test_a_verifier_does_not_count_itself_towards_the_need() -> None:
    me = make_node("me", stake=10.0, mode=Mode.VERIFY)
    view = network(me, 29)
    assert network_needs_verifiers(me, view)
    assert select_mode(me, view, quorum_available=False).mode is Mode.VERIFY
    other_verifier = NetworkView(
        nodes=(me, make_node("v", mode=Mode.VERIFY), *network(me, 28).nodes[1:]), layer_count=2
    )
    assert not network_needs_verifiers(me, other_verifier)


def test_data_when_a_shard_is_under_served_then_async() -> None:
    me = make_node("me")
    # n = 10: two servers wanted per shard; one peer serves s1, another only holds it
    peers = (
        make_node("a", mode=Mode.DATA, shards=frozenset({SHARD})),
        make_node("b", mode=Mode.PIPELINE, shards=frozenset({SHARD})),
        *(make_node(f"p{i}", mode=Mode.PIPELINE) for i in range(7)),
    )
    view = NetworkView(nodes=(me, *peers), layer_count=2)
    assert network_needs_data_providers(me, view)
    assert select_mode(me, view, quorum_available=False).mode is Mode.DATA
    well_served = NetworkView(
        nodes=(me, *peers[:1], make_node("b", mode=Mode.DATA, shards=frozenset({SHARD})), *peers[2:]),
        layer_count=2,
    )
    assert not network_needs_data_providers(me, well_served)
    assert select_mode(me, well_served, quorum_available=False).mode is Mode.ASYNC


def test_a_data_node_keeps_serving_while_it_is_needed() -> None:
    me = make_node("me", mode=Mode.DATA, shards=frozenset({SHARD}), speed_ms_per_layer=PI_MS)
    view = network(me, 3)
    assert lacking_shards_held(me, view) == {SHARD}
    assert select_mode(me, view, quorum_available=False).mode is Mode.DATA


def test_no_memory_and_nothing_needed_is_idle() -> None:
    me = make_node("me", layer_range=None, max_layers=0)
    assert select_mode(me, network(me, 3), quorum_available=False).mode is Mode.IDLE


def test_node_must_be_in_its_own_view() -> None:
    me = make_node("me")
    stale = make_node("me", stake=5.0)
    with pytest.raises(ProtocolError, match="its own view"):
        select_mode(stale, network(me, 2), quorum_available=False)


def test_an_equal_copy_of_the_views_record_decides_as_the_record_itself() -> None:
    me = make_node("me", stake=50.0, mode=Mode.VERIFY)
    copy = make_node("me", stake=50.0, mode=Mode.VERIFY)
    view = network(me, 40, other_mode=Mode.ASYNC)
    assert copy is not me
    assert select_mode(copy, view, quorum_available=False) == select_mode(
        me, view, quorum_available=False
    )


def test_a_node_missing_from_the_view_is_refused() -> None:
    with pytest.raises(ProtocolError, match="its own view"):
        select_mode(make_node("stranger"), network(make_node("me"), 2), quorum_available=False)
