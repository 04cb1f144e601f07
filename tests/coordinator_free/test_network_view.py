"""The shared view: layer ranges, node records, derived counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.network_view import (
    LayerRange,
    Mode,
    NetworkView,
    NodeView,
    count_layer_holders,
)
from coordinator_free.tiers import Tier
from coordinator_free.types import NodeId, QuorumId, ShardId


def node(name: str, start: int | None, stop: int | None = None, **fields: object) -> NodeView:
    layer_range = None if start is None else LayerRange(start, stop if stop is not None else start + 1)
    defaults: dict[str, object] = {"speed_ms_per_layer": 20.0, "max_layers": 4, "memory_bytes": 1000}
    defaults.update(fields)
    return NodeView(node_id=NodeId(name), layer_range=layer_range, **defaults)  # type: ignore[arg-type]


def test_layer_range_is_half_open() -> None:
    layers = LayerRange(2, 5)
    assert len(layers) == 3
    assert list(layers) == [2, 3, 4]
    assert 2 in layers and 4 in layers and 5 not in layers and 1 not in layers
    assert layers.covers(LayerRange(3, 5)) and not layers.covers(LayerRange(4, 6))


@pytest.mark.parametrize(("start", "stop"), [(3, 3), (4, 2), (-1, 2)])
def test_layer_range_refuses_empty_or_negative(start: int, stop: int) -> None:
    with pytest.raises(ProtocolError, match="layer range"):
        LayerRange(start, stop)


def test_node_view_derives_tier_and_flags() -> None:
    fast = node("a", 0, 3, speed_ms_per_layer=9.0, quorum_id=QuorumId("q"), shards=frozenset({ShardId("s")}))
    assert fast.tier is Tier.T1
    assert fast.in_quorum and fast.holds_genesis_data
    slow = node("b", None, speed_ms_per_layer=1000.0)
    assert slow.tier is Tier.T5 and not slow.in_quorum and not slow.holds_genesis_data


@pytest.mark.parametrize("field", ["stake", "max_layers", "memory_bytes"])
def test_node_view_refuses_negative_amounts(field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        node("a", 0, **{field: -1})


def test_node_view_is_a_frozen_value_that_replace_rebuilds() -> None:
    # NodeView writes its own __init__ (speed): it must still behave as the dataclass.
    view = node("a", 0, 2, stake=3.0, mode=Mode.SOLO)
    twin = node("a", 0, 2, stake=3.0, mode=Mode.SOLO)
    assert view == twin and hash(view) == hash(twin)
    assert view != node("a", 0, 2, stake=4.0, mode=Mode.SOLO)
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.stake = 1.0  # type: ignore[misc]
    slower = dataclasses.replace(view, speed_ms_per_layer=300.0)
    assert slower.tier is Tier.T4 and slower.stake == 3.0 and slower.mode is Mode.SOLO
    with pytest.raises(ProtocolError, match="stake"):
        dataclasses.replace(view, stake=-1.0)
    assert [f.name for f in dataclasses.fields(NodeView)][-1] == "tier"


def test_view_counts_holders_per_layer_and_clips_claims_past_the_depth() -> None:
    view = NetworkView(
        nodes=(
            node("a", 0, 4),
            node("b", 2, 6),
            node("c", None),
            node("d", 5, 9, speed_ms_per_layer=300.0),  # claims layers 6..8 of a bigger model
            node("e", 7, 9),  # only layers past the depth: counted nowhere
        ),
        layer_count=6,
    )
    assert view.size == 5
    assert view.holder_counts.tolist() == [1, 1, 2, 2, 1, 2]
    assert view.layer_holder_counts(max_tier=Tier.T3).tolist() == [1, 1, 2, 2, 1, 1]
    assert view.total_memory_bytes == 5000


def test_view_indexes_modes_and_shards() -> None:
    view = NetworkView(
        nodes=(
            node("a", 0, mode=Mode.DATA, shards=frozenset({ShardId("x"), ShardId("y")})),
            node("b", 0, mode=Mode.DATA, shards=frozenset({ShardId("x")})),
            node("c", 0, mode=Mode.VERIFY, shards=frozenset({ShardId("x")})),
        ),
        layer_count=1,
    )
    assert view.mode_counts[Mode.DATA] == 2 and view.mode_counts[Mode.VERIFY] == 1
    assert view.mode_counts[Mode.ASYNC] == 0
    assert view.shard_holder_counts == {"x": 3, "y": 1}
    assert view.shard_server_counts == {"x": 2, "y": 1}
    assert view.by_id[NodeId("c")].mode is Mode.VERIFY
    assert view.position_of[NodeId("c")] == 2


def test_view_refuses_repeated_nodes_and_empty_models() -> None:
    with pytest.raises(ProtocolError, match="repeated node ids"):
        NetworkView(nodes=(node("a", 0), node("a", 1)), layer_count=2)
    with pytest.raises(ProtocolError, match="layer_count"):
        NetworkView(nodes=(), layer_count=0)


def test_count_layer_holders_matches_a_direct_count() -> None:
    rng = np.random.default_rng(7)
    starts = rng.integers(0, 20, size=200)
    stops = np.minimum(starts + rng.integers(1, 8, size=200), 20)
    direct = [int(((starts <= layer) & (layer < stops)).sum()) for layer in range(20)]
    assert count_layer_holders(starts, stops, 20).tolist() == direct
