"""Layer growth trigger, new layer numbering, near-identity start (§10)."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.growth import (
    NEAR_IDENTITY_INIT,
    GrowthDecision,
    apply_near_identity,
    check_growth,
    model_memory_bytes,
    new_layer_indices,
    optimal_depth,
)
from coordinator_free.network_view import LayerRange, NetworkView, NodeView
from coordinator_free.types import NodeId

LAYER_BYTES, FIXED_BYTES = 100, 100


def network(
    memory_bytes: list[int], depth: int = 11, ranges: list[tuple[int, int]] | None = None
) -> NetworkView:
    ranges = ranges or [(0, depth)] * len(memory_bytes)
    nodes = tuple(
        NodeView(
            node_id=NodeId(f"n{i}"),
            speed_ms_per_layer=20.0,
            layer_range=LayerRange(*held),
            max_layers=depth,
            memory_bytes=memory,
        )
        for i, (memory, held) in enumerate(zip(memory_bytes, ranges, strict=True))
    )
    return NetworkView(nodes=nodes, layer_count=depth)


def check(view: NetworkView, steps: int = 10_000) -> GrowthDecision:
    return check_growth(
        view, layer_memory_bytes=LAYER_BYTES, fixed_memory_bytes=FIXED_BYTES, steps_since_upgrade=steps
    )


def test_model_memory_and_optimal_depth() -> None:
    assert model_memory_bytes(11, layer_memory_bytes=100, fixed_memory_bytes=100) == 1200
    # n = 1: threshold 1.5. 2250 B / 1.5 = 1500 B, minus 100 fixed = 14 layers
    assert optimal_depth(2250, 1.5, layer_memory_bytes=100, fixed_memory_bytes=100) == 14
    assert optimal_depth(2249, 1.5, layer_memory_bytes=100, fixed_memory_bytes=100) == 13
    assert optimal_depth(10, 1.5, layer_memory_bytes=100, fixed_memory_bytes=100) == 0
    with pytest.raises(ProtocolError, match="must be > 0"):
        optimal_depth(10, 1.5, layer_memory_bytes=0, fixed_memory_bytes=100)


@pytest.mark.parametrize(
    ("memory_bytes", "grows", "new_depth"),
    [
        (2249, False, 11),  # optimal 13: only 2 more layers, not more than 2
        (2250, True, 14),  # optimal 14: 3 more
        (10**6, True, 22),  # capped at twice today's depth
    ],
)
def test_growth_needs_more_than_two_new_layers(memory_bytes: int, grows: bool, new_depth: int) -> None:
    decision = check(network([memory_bytes]))
    assert (decision.should_grow, decision.new_depth) == (grows, new_depth)


def test_not_enough_memory_for_the_threshold() -> None:
    decision = check(network([1799]))  # model 1200 B × 1.5 = 1800 B
    assert not decision.should_grow
    assert decision.blockers[0] == "network memory 1799 B < model × threshold = 1800 B"


@pytest.mark.parametrize(("steps", "grows"), [(9_999, False), (10_000, True)])
def test_growth_waits_10000_steps_after_an_upgrade(steps: int, grows: bool) -> None:
    assert check(network([10**6]), steps=steps).should_grow is grows


def test_every_layer_needs_its_target_replicas() -> None:
    # n = 5: two replicas per layer wanted; layer 10 has one holder
    ranges = [(0, 11), (0, 10), (0, 10), (0, 10), (0, 10)]
    thin = check(network([10**6] * 5, ranges=ranges))
    assert not thin.should_grow and "layer 10" in thin.blockers[0]
    ranges[1] = (0, 11)
    assert check(network([10**6] * 5, ranges=ranges)).should_grow


def test_the_threshold_rises_with_network_size() -> None:
    """2250 B grows a one-node network; spread over 16 nodes (threshold 1.9) it does not."""
    assert check(network([2250])).should_grow
    spread = check(network([2250 // 16 + 1] * 16))
    assert not spread.should_grow and spread.optimal_depth == 10


def test_new_layers_are_appended() -> None:
    assert list(new_layer_indices(11, 14)) == [11, 12, 13]
    with pytest.raises(ProtocolError, match="must exceed"):
        new_layer_indices(11, 11)


def test_near_identity_scales_output_projections_and_zeroes_their_biases() -> None:
    rng = np.random.default_rng(0)
    shapes = {
        "attn.qkv.weight": (12, 4),
        "attn.qkv.bias": (12,),
        "attn.proj.weight": (4, 4),
        "attn.proj.bias": (4,),
        "mlp.fc2.weight": (4, 16),
        "mlp.fc2.bias": (4,),
    }
    block = {name: rng.normal(0.0, 0.02, size=shape).astype(np.float32) for name, shape in shapes.items()}
    result = apply_near_identity(block)
    np.testing.assert_allclose(result["attn.proj.weight"], block["attn.proj.weight"] * 0.01, rtol=1e-6)
    np.testing.assert_allclose(result["mlp.fc2.weight"], block["mlp.fc2.weight"] * 0.01, rtol=1e-6)
    assert not result["attn.proj.bias"].any() and not result["mlp.fc2.bias"].any()
    np.testing.assert_array_equal(result["attn.qkv.weight"], block["attn.qkv.weight"])
    assert result["mlp.fc2.weight"].dtype == np.float32
    assert block["mlp.fc2.bias"].any(), "the input must not be modified"
    assert NEAR_IDENTITY_INIT.output_projection_scale == 0.01


def test_near_identity_names_missing_parameters() -> None:
    with pytest.raises(ProtocolError, match="lacks parameters"):
        apply_near_identity({"attn.proj.weight": np.ones((2, 2))})
