"""Quorum formation (§8): greedy coverage ÷ latency, tiers, min size, failures."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator_free.network_view import LayerRange, NetworkView, NodeView
from coordinator_free.quorum_formation import (
    FormationFailure,
    FormationFailureReason,
    QuorumProposal,
    form_quorum,
)
from coordinator_free.scale import min_quorum_size
from coordinator_free.tiers import Tier, is_tier_group_compatible
from coordinator_free.types import NodeId, QuorumId

T1_MS, T2_MS, T3_MS, T5_MS = 5.0, 20.0, 100.0, 2000.0


def node(name: str, start: int, stop: int, speed_ms: float = T2_MS, **fields: object) -> NodeView:
    return NodeView(
        node_id=NodeId(name),
        speed_ms_per_layer=speed_ms,
        layer_range=LayerRange(start, stop),
        max_layers=stop - start,
        memory_bytes=10**9,
        **fields,  # type: ignore[arg-type]
    )


def filler(count: int) -> tuple[NodeView, ...]:
    """Nodes that count towards n but can never join (T5)."""
    return tuple(node(f"z{i:04d}", 0, 1, T5_MS) for i in range(count))


def form(
    nodes: tuple[NodeView, ...],
    layers: int = 11,
    latency: dict[str, float] | None = None,
    founder: str | None = None,
    **kw: object,
) -> object:
    """Formation founded by `founder` (default: the first node) at t = 1000 s."""
    view = NetworkView(nodes=nodes, layer_count=layers)
    latency_ms = {NodeId(k): v for k, v in (latency or {}).items()}
    founder_id = NodeId(founder) if founder else nodes[0].node_id
    return form_quorum(founder_id, view, now_s=1000.0, latency_ms=latency_ms, **kw)  # type: ignore[arg-type]


def stages(result: object) -> list[tuple[str, int, int]]:
    assert isinstance(result, QuorumProposal), result
    return [(m.node_id, m.stage.start, m.stage.stop) for m in result.members]


def test_three_holders_form_a_pipeline_in_layer_order() -> None:
    result = form((node("c", 8, 11), node("b", 4, 8), node("a", 0, 4)), founder="a")
    assert stages(result) == [("a", 0, 4), ("b", 4, 8), ("c", 8, 11)]
    assert isinstance(result, QuorumProposal)
    assert (result.founder, result.initiator, result.finisher) == ("a", "a", "c")
    assert result.tier is Tier.T2 and result.session_s == 1800.0 and result.created_at_s == 1000.0
    assert result.layer_map[NodeId("b")] == LayerRange(4, 8)


@pytest.mark.parametrize(
    ("latency", "picked"),
    [
        # wide [4,11): 7 / (1 + 300/100) = 1.75; narrow [4,8): 4 / 1 = 4 -> narrow first, then d
        ({"wide": 300.0, "narrow": 0.0, "d": 0.0}, ["a", "narrow", "d"]),
        # wide: 7 / 1.5 = 4.67 beats narrow 4 / 1 -> one hop
        ({"wide": 50.0, "narrow": 0.0, "d": 0.0}, ["a", "wide"]),
        # wide: 7 / 1.75 = 4.0 ties narrow 4 / 1: the smaller node id wins
        ({"wide": 75.0, "narrow": 0.0, "d": 0.0}, ["a", "narrow", "d"]),
        # unmeasured latency counts as 1000 ms: wide 7 / 11 = 0.64 < narrow 4 / 5.5 = 0.73
        ({"narrow": 450.0, "d": 0.0}, ["a", "narrow", "d"]),
    ],
)
def test_greedy_score_is_new_layers_over_latency_factor(latency: dict[str, float], picked: list[str]) -> None:
    nodes = (node("a", 0, 4), node("wide", 4, 11), node("narrow", 4, 8), node("d", 8, 11))
    assert [m[0] for m in stages(form(nodes, latency=latency))] == picked


def test_founder_in_the_middle_extends_both_ways() -> None:
    nodes = (node("m", 4, 7), node("left", 0, 4), node("right", 7, 11))
    assert stages(form(nodes)) == [("left", 0, 4), ("m", 4, 7), ("right", 7, 11)]


def test_a_missing_layer_is_reported() -> None:
    result = form((node("a", 0, 4), node("b", 4, 8)))
    assert isinstance(result, FormationFailure)
    assert result.reason is FormationFailureReason.UNCOVERED_LAYERS
    assert result.missing_layers == (8, 9, 10)


@pytest.mark.parametrize(
    ("other_speed_ms", "forms"),
    [(T1_MS, True), (T2_MS, True), (T3_MS, False), (T5_MS, False)],
)
def test_a_t1_founder_only_takes_t1_and_t2(other_speed_ms: float, forms: bool) -> None:
    result = form((node("a", 0, 6, T1_MS), node("b", 6, 11, other_speed_ms)))
    assert isinstance(result, QuorumProposal) == forms


def test_compatibility_is_pairwise_not_only_with_the_founder() -> None:
    """A T2 founder accepts T1 and T3, but not both in one quorum."""
    nodes = (node("a", 4, 7, T2_MS), node("fast", 0, 4, T1_MS), node("slow", 7, 11, T3_MS))
    result = form(nodes)
    assert isinstance(result, FormationFailure) and result.reason is FormationFailureReason.UNCOVERED_LAYERS
    with_t2 = form((*nodes, node("mid", 7, 11, T2_MS)))
    assert [m[0] for m in stages(with_t2)] == ["fast", "a", "mid"]


def test_the_faster_tier_window_wins_when_both_complete() -> None:
    nodes = (node("a", 0, 6, T2_MS), node("fast", 6, 11, T1_MS), node("slow", 6, 11, T3_MS))
    result = form(nodes, latency={"fast": 400.0, "slow": 0.0})
    assert [m[0] for m in stages(result)] == ["a", "fast"]
    assert isinstance(result, QuorumProposal) and result.tier is Tier.T2


def test_busy_excluded_and_t5_nodes_are_not_candidates() -> None:
    nodes = (
        node("a", 0, 6),
        node("busy", 6, 11, quorum_id=QuorumId("q1")),
        node("refused", 6, 11),
        node("pi", 6, 11, T5_MS),
    )
    result = form(nodes, excluded=frozenset({NodeId("refused")}))
    assert isinstance(result, FormationFailure) and result.missing_layers == (6, 7, 8, 9, 10)
    assert [m[0] for m in stages(form(nodes))] == ["a", "refused"]


@pytest.mark.parametrize(
    ("founder", "reason_text"),
    [
        (node("a", 0, 11, T5_MS), "async only"),
        (node("a", 0, 11, quorum_id=QuorumId("q")), "already in quorum"),
        (node("a", 11, 12), "holds no layer"),
    ],
)
def test_an_unavailable_founder_cannot_form(founder: NodeView, reason_text: str) -> None:
    result = form((founder, node("b", 0, 11)))
    assert isinstance(result, FormationFailure)
    assert result.reason is FormationFailureReason.FOUNDER_UNAVAILABLE and reason_text in result.detail


def test_founder_missing_from_view() -> None:
    view = NetworkView(nodes=(node("b", 0, 11),), layer_count=11)
    result = form_quorum(NodeId("ghost"), view, now_s=0.0, latency_ms={})
    assert isinstance(result, FormationFailure) and "not in the view" in result.detail


@pytest.mark.parametrize(("n", "members"), [(4, 1), (5, 2), (19, 2), (20, 3)])
def test_min_quorum_size_splits_the_layers_of_full_holders(n: int, members: int) -> None:
    holders = tuple(node(f"h{i}", 0, 11) for i in range(3))
    result = form(holders + filler(n - 3))
    assert len(stages(result)) == members
    assert isinstance(result, QuorumProposal) and result.session_s == (1800.0 if n < 20 else 3600.0)


def test_balanced_stages_follow_speed() -> None:
    result = form((node("a", 0, 11, 10.0), node("b", 0, 11, 10.0), node("c", 0, 11, 20.0)) + filler(17))
    # b, then c, join the founder; each at the earliest position with the smallest bottleneck.
    # Shares 1:2:2 of 11 layers -> cuts at round(2.2) = 2 and round(6.6) = 7; bottleneck 5 × 10 ms.
    assert stages(result) == [("c", 0, 2), ("b", 2, 7), ("a", 7, 11)]


def test_too_few_members() -> None:
    result = form((node("a", 0, 11), node("b", 0, 11)) + filler(18))
    assert isinstance(result, FormationFailure)
    assert result.reason is FormationFailureReason.TOO_FEW_MEMBERS and "min quorum size is 3" in result.detail


def test_min_size_is_capped_at_the_layer_count() -> None:
    result = form((node("a", 0, 2), node("b", 0, 2), node("c", 0, 2)) + filler(17), layers=2)
    assert len(stages(result)) == 2


def test_a_member_nested_inside_another_cannot_split_it() -> None:
    """min size 2: 'inner' holds only layers 4-5, which no cut of [0, 11) can give it alone."""
    result = form((node("a", 0, 11), node("inner", 4, 6)) + filler(3))
    assert isinstance(result, FormationFailure) and result.reason is FormationFailureReason.TOO_FEW_MEMBERS


def test_same_view_same_quorum_id_and_time_changes_it() -> None:
    nodes = (node("a", 0, 4), node("b", 4, 11))
    first, second = form(nodes), form(nodes[::-1], founder="a")
    assert isinstance(first, QuorumProposal) and isinstance(second, QuorumProposal)
    assert first.quorum_id == second.quorum_id and len(first.quorum_id) == 64
    later = form_quorum(NodeId("a"), NetworkView(nodes=nodes, layer_count=11), now_s=2000.0, latency_ms={})
    assert isinstance(later, QuorumProposal) and later.quorum_id != first.quorum_id


# ------------------------------------------------------------------ properties

SPEEDS_MS = (5.0, 20.0, 60.0, 300.0, 2000.0)  # T1, T2, T3, T4, T5


@st.composite
def networks(draw: st.DrawFn) -> tuple[tuple[NodeView, ...], int, dict[NodeId, float]]:
    layers = draw(st.integers(1, 12))
    count = draw(st.integers(1, 16))
    nodes, latency = [], {}
    for index in range(count):
        start = draw(st.integers(0, layers - 1))
        stop = draw(st.integers(start + 1, layers))
        busy = draw(st.integers(0, 5)) == 0
        nodes.append(
            node(
                f"n{index:02d}",
                start,
                stop,
                draw(st.sampled_from(SPEEDS_MS)),
                quorum_id=QuorumId("q") if busy else None,
            )
        )
        if draw(st.booleans()):
            latency[NodeId(f"n{index:02d}")] = draw(st.sampled_from((0.0, 10.0, 50.0, 150.0)))
    nodes.extend(filler(draw(st.sampled_from((0, 4, 18)))))
    return tuple(nodes), layers, latency


@settings(max_examples=150, deadline=None)
@given(network=networks(), data=st.data())
def test_formation_is_independent_of_input_order(network: tuple, data: st.DataObject) -> None:
    nodes, layers, latency = network
    founder = nodes[0].node_id
    shuffled = tuple(data.draw(st.permutations(nodes)))
    first = form_quorum(founder, NetworkView(nodes=nodes, layer_count=layers), now_s=5.0, latency_ms=latency)
    second = form_quorum(
        founder, NetworkView(nodes=shuffled, layer_count=layers), now_s=5.0, latency_ms=latency
    )
    assert first == second


@settings(max_examples=200, deadline=None)
@given(network=networks())
def test_formation_covers_every_layer_or_says_why_not(network: tuple) -> None:
    nodes, layers, latency = network
    view = NetworkView(nodes=nodes, layer_count=layers)
    result = form_quorum(nodes[0].node_id, view, now_s=5.0, latency_ms=latency)
    if isinstance(result, FormationFailure):
        assert result.detail
        if result.reason is FormationFailureReason.UNCOVERED_LAYERS:
            assert result.missing_layers and set(result.missing_layers) <= set(range(layers))
        return
    members = result.members
    assert members[0].stage.start == 0 and members[-1].stage.stop == layers
    assert all(a.stage.stop == b.stage.start for a, b in itertools.pairwise(members))
    assert len({m.node_id for m in members}) == len(members) >= min(min_quorum_size(view.size), layers)
    assert nodes[0].node_id in {m.node_id for m in members}
    for member in members:
        record = view.by_id[member.node_id]
        assert record.layer_range is not None and record.layer_range.covers(member.stage)
        assert not record.in_quorum and record.tier is member.tier
    assert is_tier_group_compatible(m.tier for m in members) and result.tier == max(m.tier for m in members)


@settings(max_examples=100, deadline=None)
@given(network=networks())
def test_two_compatible_full_holders_always_complete_coverage(network: tuple) -> None:
    """One full holder cannot flank a founder in the middle (a member runs one run); two always can."""
    nodes, layers, latency = network
    founder = nodes[0]
    full = tuple(node(f"zz-full{i}", 0, layers, founder.speed_ms_per_layer) for i in range(2))
    view = NetworkView(nodes=(*nodes, *full), layer_count=layers)
    result = form_quorum(founder.node_id, view, now_s=5.0, latency_ms=latency)
    if isinstance(result, FormationFailure):  # only a T5 or busy founder cannot use them
        assert result.reason is FormationFailureReason.FOUNDER_UNAVAILABLE


@settings(max_examples=300, deadline=None)
@given(network=networks(), data=st.data())
def test_python_and_numpy_candidate_scans_form_the_same_quorum(network: tuple, data: st.DataObject) -> None:
    """Small views are scanned in plain Python, large ones with numpy: the rule is the same."""
    nodes, layers, latency = network
    founder = data.draw(st.sampled_from(nodes)).node_id
    excluded = frozenset(data.draw(st.sets(st.sampled_from([n.node_id for n in nodes]), max_size=3)) - {founder})
    view = NetworkView(nodes=nodes, layer_count=layers)
    results = [
        form_quorum(founder, view, now_s=5.0, latency_ms=latency, excluded=excluded, small_view_nodes=limit)
        for limit in (0, len(nodes))
    ]
    assert results[0] == results[1]


@pytest.mark.parametrize("small_view_nodes", [0, 1000])
def test_equal_extra_members_go_to_the_smallest_ids_in_both_scans(small_view_nodes: int) -> None:
    nodes = (node("f", 0, 11), node("m3", 0, 11), node("m1", 0, 11), node("m2", 0, 11), *filler(20))
    result = form(nodes, latency={"m1": 10.0, "m2": 10.0, "m3": 10.0}, small_view_nodes=small_view_nodes)
    assert isinstance(result, QuorumProposal)
    assert sorted(m.node_id for m in result.members) == ["f", "m1", "m2"]
