"""mode_rules: the work `--mode auto` runs for a node in a given network view, and the switch hysteresis."""

from __future__ import annotations

from agent.mode_rules import (
    Hysteresis,
    Plan,
    Work,
    plan_mode,
    quorum_open_to,
    unheld_layers,
)
from coordinator_free.network_view import LayerRange, Mode, NetworkView, NodeView
from coordinator_free.types import NodeId, QuorumId

LAYERS = 3
FAST_MS = 5.0  # T2-ish speed per layer
SLOW_MS = 100_000.0  # T5


def node(name: str, layers: tuple[int, int] | None, *, quorum: str | None = None, speed_ms: float = FAST_MS) -> NodeView:
    return NodeView(node_id=NodeId(name), speed_ms_per_layer=speed_ms,
                    layer_range=LayerRange(*layers) if layers else None, max_layers=LAYERS, memory_bytes=1 << 30,
                    quorum_id=QuorumId(quorum) if quorum else None)


def view(*nodes: NodeView) -> NetworkView:
    return NetworkView(nodes=tuple(sorted(nodes, key=lambda n: n.node_id)), layer_count=LAYERS)


def plan(own: NodeView, *others: NodeView, forced_async: bool = False) -> Plan:
    return plan_mode(own, view(own, *others), now_s=1000.0, forced_async=forced_async)


def test_alone_is_solo() -> None:
    chosen = plan(node("a", (0, 1)))
    assert (chosen.mode, chosen.work) == (Mode.SOLO, Work.SOLO) and "alone" in chosen.reason


def test_a_whole_model_holder_with_peers_is_a_one_member_quorum_trained_like_solo() -> None:
    chosen = plan(node("a", (0, LAYERS)), node("b", (0, LAYERS)))
    assert (chosen.mode, chosen.work) == (Mode.PIPELINE, Work.SOLO) and "one member" in chosen.reason


def test_claims_covering_every_layer_make_a_pipeline_for_founder_and_members() -> None:
    a, b, c = node("a", (0, 1)), node("b", (1, 2)), node("c", (2, 3))
    for own, others in ((a, (b, c)), (b, (a, c)), (c, (a, b))):
        chosen = plan(own, *others)
        assert (chosen.mode, chosen.work) == (Mode.PIPELINE, Work.PIPELINE), (own.node_id, chosen)


def test_a_member_of_a_running_quorum_stays_in_it() -> None:
    chosen = plan(node("b", (1, 2), quorum="q"), node("a", (0, 1), quorum="q"))
    assert (chosen.mode, chosen.work) == (Mode.PIPELINE, Work.PIPELINE)


def test_survivors_of_a_lost_stage_nobody_else_holds_train_every_layer() -> None:
    a, c = node("a", (0, 1)), node("c", (2, 3))
    chosen = plan(a, c)
    assert (chosen.mode, chosen.work) == (Mode.SOLO, Work.SOLO)
    assert "layer(s) [0, 1]" in chosen.reason and "ASYNC" in chosen.reason
    assert unheld_layers(c, view(a, c)) == [1, 2]


def test_no_open_quorum_but_every_layer_held_is_async() -> None:
    # a and b run a quorum; d holds layer 1 too but no founder is free to include it.
    a, b, c = node("a", (0, 1), quorum="q"), node("b", (1, 2), quorum="q"), node("c", (2, 3), quorum="q")
    d = node("d", (1, 2))
    assert not quorum_open_to(d, view(a, b, c, d), now_s=0.0)
    chosen = plan(d, a, b, c)
    assert (chosen.mode, chosen.work) == (Mode.ASYNC, Work.ASYNC)


def test_t5_is_async_when_holders_exist_and_forced_async_without_holders_falls_back_to_solo() -> None:
    slow = node("e", (0, LAYERS), speed_ms=SLOW_MS)
    chosen = plan(slow, node("a", (0, LAYERS)))
    assert (chosen.mode, chosen.work) == (Mode.ASYNC, Work.ASYNC)
    fallback = plan(node("e", None), node("a", (0, 1)), forced_async=True)
    assert (fallback.mode, fallback.work) == (Mode.SOLO, Work.SOLO) and "--mode async" in fallback.reason


def test_hysteresis_needs_agreeing_reselections_and_a_dwell() -> None:
    solo, pipeline = Plan(Mode.SOLO, Work.SOLO, "x"), Plan(Mode.PIPELINE, Work.PIPELINE, "y")
    gate = Hysteresis(hold=3, min_dwell_s=10.0, now_s=0.0)
    assert gate.offer(solo, pipeline, 20.0) is None
    assert gate.offer(solo, solo, 20.5) is None  # one dissenting re-selection restarts the count
    assert gate.offer(solo, pipeline, 21.0) is None
    assert gate.offer(solo, pipeline, 21.5) is None
    assert gate.offer(solo, pipeline, 22.0) == pipeline
    gate.switched(22.0)
    for t in (23.0, 24.0, 25.0):  # agreeing, but within the dwell after a switch
        assert gate.offer(pipeline, solo, t) is None
    assert gate.offer(pipeline, solo, 32.5) == solo
