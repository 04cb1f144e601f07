"""The architecture upgrade state machine: grace, extensions, activation, warm-up (§10)."""

from __future__ import annotations

from functools import reduce

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.growth_upgrade import (
    GraceTick,
    GrowthConfig,
    QuorumsDissolved,
    TrainingProgress,
    TrainingResumed,
    UpgradeEvent,
    UpgradePhase,
    UpgradeState,
    announce_upgrade,
    apply_upgrade_event,
    grace_tick_from_view,
    layer_learning_rate_factor,
    warmup_factor,
)
from coordinator_free.network_view import LayerRange, NetworkView, NodeView
from coordinator_free.types import NodeId

READY = ((2, 2, 2), (1, 1, 1), 2)  # holders, fast holders, min replicas for layers 11..13
NO_FAST = ((2, 2, 2), (1, 0, 1), 2)
THIN = ((2, 1, 2), (1, 1, 1), 2)


def announced() -> UpgradeState:
    return announce_upgrade(at_s=100.0, old_arch_version=1, old_depth=11, new_depth=14)


def tick(at_s: float, counts: tuple = READY) -> GraceTick:
    return GraceTick(at_s, *counts)


def run(state: UpgradeState, *events: UpgradeEvent) -> UpgradeState:
    return reduce(apply_upgrade_event, events, state)


def test_announcement_opens_a_ten_minute_grace() -> None:
    state = announced()
    assert (state.phase, state.new_arch_version, state.grace_ends_s) == (UpgradePhase.ANNOUNCED, 2, 700.0)
    assert list(state.new_layers) == [11, 12, 13]
    assert run(state, tick(699.9)).phase is UpgradePhase.ANNOUNCED  # ready, but the window is still open


def test_activation_when_every_new_layer_has_replicas_and_a_fast_holder() -> None:
    state = run(announced(), tick(700.0, READY))
    assert state.phase is UpgradePhase.ACTIVATED and state.activated_at_s == 700.0


@pytest.mark.parametrize("counts", [NO_FAST, THIN])
def test_not_ready_extends_by_ten_minutes(counts: tuple) -> None:
    state = run(announced(), tick(700.0, counts))
    assert (state.phase, state.extensions, state.grace_ends_s) == (UpgradePhase.ANNOUNCED, 1, 1300.0)
    assert run(state, tick(1300.0)).phase is UpgradePhase.ACTIVATED


def test_aborted_after_three_extensions() -> None:
    state = run(announced(), tick(700.0, THIN), tick(1300.0, THIN), tick(1900.0, THIN))
    assert (state.phase, state.extensions) == (UpgradePhase.ANNOUNCED, 3)
    assert run(state, tick(2500.0)).phase is UpgradePhase.ACTIVATED  # the third extension still counts
    assert run(state, tick(2500.0, THIN)).phase is UpgradePhase.ABORTED


def test_full_sequence_to_stable_with_warmup() -> None:
    state = run(announced(), tick(700.0), QuorumsDissolved(710.0))
    assert state.phase is UpgradePhase.REFORMING
    state = run(state, TrainingResumed(720.0, step=50_000))
    assert state.phase is UpgradePhase.WARMUP and state.warmup_start_step == 50_000
    state = run(state, TrainingProgress(50_999))
    assert state.phase is UpgradePhase.WARMUP
    assert run(state, TrainingProgress(51_000)).phase is UpgradePhase.STABLE


def test_events_out_of_order_change_nothing() -> None:
    state = announced()
    assert run(state, QuorumsDissolved(1.0), TrainingResumed(2.0, 5), TrainingProgress(10**6)) == state
    activated = run(state, tick(700.0))
    assert run(activated, tick(1300.0, THIN), TrainingResumed(800.0, 5)) == activated


def test_grace_tick_must_count_every_new_layer() -> None:
    with pytest.raises(ProtocolError, match="adds 3"):
        run(announced(), GraceTick(700.0, (2, 2), (1, 1), 2))


@pytest.mark.parametrize(("steps", "factor"), [(0, 0.1), (500, 0.55), (1000, 1.0), (5000, 1.0), (-3, 0.1)])
def test_warmup_rises_linearly_from_a_tenth(steps: int, factor: float) -> None:
    assert warmup_factor(steps) == pytest.approx(factor)


def test_only_new_layers_warm_up() -> None:
    state = run(announced(), tick(700.0))
    assert layer_learning_rate_factor(state, 11, step=0) == pytest.approx(0.1)
    state = run(state, QuorumsDissolved(710.0), TrainingResumed(720.0, step=100))
    assert layer_learning_rate_factor(state, 12, step=350) == pytest.approx(0.325)
    assert layer_learning_rate_factor(state, 10, step=350) == 1.0
    assert layer_learning_rate_factor(run(state, TrainingProgress(1100)), 12, step=1100) == 1.0


def test_durations_are_parameters() -> None:
    fast = GrowthConfig(grace_s=1.0, max_extensions=0, warmup_steps=10)
    state = announce_upgrade(at_s=0.0, old_arch_version=3, old_depth=2, new_depth=5, config=fast)
    assert run(state, tick(1.0, THIN)).phase is UpgradePhase.ABORTED
    assert warmup_factor(5, fast) == pytest.approx(0.55)


def test_grace_tick_from_a_view_of_the_new_depth() -> None:
    def holder(name: str, start: int, stop: int, speed_ms: float) -> NodeView:
        return NodeView(NodeId(name), speed_ms, LayerRange(start, stop), stop - start, 10**9)

    nodes = (
        holder("a", 0, 14, 20.0),
        holder("b", 11, 14, 500.0),
        holder("c", 12, 14, 60.0),
        holder("d", 0, 5, 9.0),
    )
    view = NetworkView(nodes=nodes, layer_count=14)
    event = grace_tick_from_view(announced(), view, 700.0)
    assert event == GraceTick(700.0, (2, 3, 3), (1, 2, 2), 1)
    with pytest.raises(ProtocolError, match="upgrade is to 14"):
        grace_tick_from_view(announced(), NetworkView(nodes=nodes[3:], layer_count=11), 700.0)
