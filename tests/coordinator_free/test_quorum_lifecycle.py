"""The quorum lifecycle state machine (§6 health, §8 sessions and renewal)."""

from __future__ import annotations

from dataclasses import replace
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator_free.errors import ProtocolError
from coordinator_free.network_view import LayerRange
from coordinator_free.quorum_events import (
    ArchitectureUpgraded,
    BatchesCompleted,
    CheckIn,
    Heartbeat,
    Heartbeats,
    LatencySample,
    MemberLeaving,
    MemberReplaced,
    ProposalAccepted,
    ProposalRefused,
    ProposalsAccepted,
    QuorumEvent,
    Tick,
)
from coordinator_free.quorum_formation import QuorumMember, QuorumProposal
from coordinator_free.quorum_lifecycle import apply_event, start_quorum
from coordinator_free.quorum_state import (
    DissolveReason,
    MemberHealth,
    QuorumPhase,
    QuorumState,
    ReplacementReason,
)
from coordinator_free.tiers import Tier
from coordinator_free.types import NodeId, QuorumId

A, B, C, D = NodeId("a"), NodeId("b"), NodeId("c"), NodeId("d")


def member(node_id: NodeId, start: int, stop: int, tier: Tier = Tier.T2) -> QuorumMember:
    return QuorumMember(node_id=node_id, stage=LayerRange(start, stop), tier=tier, speed_ms_per_layer=20.0)


def proposal(session_s: float = 3600.0) -> QuorumProposal:
    return QuorumProposal(
        quorum_id=QuorumId("q"),
        founder=A,
        members=(member(A, 0, 4), member(B, 4, 8), member(C, 8, 11)),
        tier=Tier.T2,
        created_at_s=0.0,
        session_s=session_s,
    )


def run(state: QuorumState, *events: QuorumEvent) -> QuorumState:
    return reduce(apply_event, events, state)


def active(session_s: float = 3600.0, at_s: float = 10.0) -> QuorumState:
    return run(start_quorum(proposal(session_s)), ProposalAccepted(B, 5.0), ProposalAccepted(C, at_s))


def beat_all(at_s: float) -> tuple[Heartbeat, ...]:
    return (Heartbeat(A, at_s), Heartbeat(B, at_s), Heartbeat(C, at_s))


def test_forming_until_every_member_accepts() -> None:
    state = start_quorum(proposal())
    assert state.phase is QuorumPhase.FORMING and state.member(A).accepted  # type: ignore[union-attr]
    state = run(state, ProposalAccepted(B, 5.0))
    assert state.phase is QuorumPhase.FORMING
    state = run(state, ProposalAccepted(C, 10.0))
    assert state.phase is QuorumPhase.ACTIVE
    assert (state.activated_at_s, state.session_ends_s, state.renewal_due_s) == (10.0, 3610.0, 2890.0)


@given(
    answers=st.lists(
        st.tuples(st.sampled_from([A, B, C, D]), st.sampled_from([1.0, 2.5, 4.0, 9.0])), max_size=6
    ),
    refused_first=st.booleans(),
)
def test_a_batch_of_answers_is_the_same_as_each_answer_in_turn(
    answers: list[tuple[NodeId, float]], refused_first: bool
) -> None:
    """ProposalsAccepted folds ProposalAccepted: strangers ignored, the last answer counts,
    answers after activation ignored, nothing happens to a quorum no longer forming."""
    start = start_quorum(proposal())
    if refused_first:
        start = run(start, ProposalRefused(C, 0.5))
    one_by_one = run(start, *(ProposalAccepted(node_id, at_s) for node_id, at_s in answers))
    assert run(start, ProposalsAccepted(tuple(answers))) == one_by_one


def _check_in_start(name: str) -> QuorumState:
    """Quorum states a CheckIn can meet, renewing ones included (heard members may let a
    renewal go through, and batches then count in the new session)."""
    if name == "forming":
        return start_quorum(proposal())
    if name == "active":
        return active()
    if name == "renewing_degraded":  # everyone silent for 90 s at the renewal check
        state = run(active(), *beat_all(2800.0), BatchesCompleted(1200, 2800.0), Tick(2890.0))
    elif name == "renewing_leaving":
        state = run(active(), *beat_all(2880.0), MemberLeaving(B, 2880.0), BatchesCompleted(1200, 2880.0), Tick(2890.0))
    else:
        return run(active(), ArchitectureUpgraded(100.0))
    assert state.phase is QuorumPhase.RENEWING
    return state


_PREFIX_EVENTS = st.one_of(
    st.builds(Heartbeat, st.sampled_from([A, B, C]), st.sampled_from([2895.0, 2950.0])),
    st.builds(BatchesCompleted, st.sampled_from([0, 400, 1200]), st.just(2895.0)),
    st.builds(Tick, st.sampled_from([2895.0, 2940.0, 3610.0])),
    st.builds(MemberLeaving, st.sampled_from([A, B, C]), st.just(2895.0)),
    st.builds(LatencySample, st.sampled_from([A, B, C]), st.just(2895.0), st.sampled_from([80.0, 500.0]), st.just(4), st.just(20.0)),
)


@given(
    start=st.sampled_from(["forming", "active", "renewing_degraded", "renewing_leaving", "dissolved"]),
    prefix=st.lists(_PREFIX_EVENTS, max_size=3),
    heard=st.lists(st.sampled_from([A, B, C, D]), max_size=4, unique=True),
    batches=st.sampled_from([0, 1, 999, 1000, 5000]),
    at_s=st.sampled_from([30.0, 130.0, 2890.0, 2900.0, 2960.0, 3000.0, 3700.0, 7000.0]),
)
def test_a_check_in_is_the_same_as_heartbeats_batches_and_a_tick_in_turn(
    start: str, prefix: list[QuorumEvent], heard: list[NodeId], batches: int, at_s: float
) -> None:
    """CheckIn folds Heartbeats, BatchesCompleted and Tick, in every phase (forming, active,
    renewing, dissolved) and whatever the members' health, batches and time."""
    state = run(_check_in_start(start), *prefix)
    in_turn = run(state, Heartbeats(tuple(heard), at_s), BatchesCompleted(batches, at_s), Tick(at_s))
    assert run(state, CheckIn(tuple(heard), batches, at_s)) == in_turn


def test_a_check_in_that_ends_a_renewal_counts_its_batches_in_the_new_session() -> None:
    renewing = _check_in_start("renewing_degraded")
    state = run(renewing, CheckIn((A, B, C), 300, 2900.0))
    assert (state.phase, state.batches_in_session, state.session_ends_s) == (QuorumPhase.ACTIVE, 300, 7210.0)


def test_a_check_in_refuses_a_negative_batch_count() -> None:
    with pytest.raises(ProtocolError, match="batch count must be >= 0"):
        run(active(), CheckIn((A,), -1, 20.0))


def test_refusal_or_silence_dissolves_a_forming_quorum() -> None:
    refused = run(start_quorum(proposal()), ProposalRefused(B, 3.0))
    assert (
        refused.phase is QuorumPhase.DISSOLVED and refused.dissolve_reason is DissolveReason.PROPOSAL_REFUSED
    )
    waiting = run(start_quorum(proposal()), ProposalAccepted(B, 5.0), Tick(59.9))
    assert waiting.phase is QuorumPhase.FORMING
    timed_out = run(waiting, Tick(60.0))
    assert timed_out.dissolve_reason is DissolveReason.PROPOSAL_TIMEOUT


@pytest.mark.parametrize(
    ("silent_s", "health"),
    [(59.9, MemberHealth.HEALTHY), (60.0, MemberHealth.DEGRADED), (119.9, MemberHealth.DEGRADED)],
)
def test_missed_heartbeats_degrade_a_member(silent_s: float, health: MemberHealth) -> None:
    state = run(active(), Heartbeat(A, 10.0 + silent_s), Heartbeat(C, 10.0 + silent_s), Tick(10.0 + silent_s))
    assert state.member(B).health is health  # type: ignore[union-attr]
    wanted = ((B, ReplacementReason.DEGRADED),) if health is MemberHealth.DEGRADED else ()
    assert state.replacements_wanted == wanted and state.phase is QuorumPhase.ACTIVE


def test_offline_at_120_s_without_replacement_dissolves() -> None:
    state = run(active(), Heartbeat(A, 130.0), Heartbeat(C, 130.0), Tick(130.0))
    assert state.phase is QuorumPhase.DISSOLVED and state.dissolve_reason is DissolveReason.MEMBER_LOST


def test_a_heartbeat_restores_a_degraded_member() -> None:
    state = run(active(), *beat_all(70.0)[::2], Tick(70.0))
    assert state.member(B).health is MemberHealth.DEGRADED  # type: ignore[union-attr]
    state = run(state, Heartbeat(B, 75.0), Tick(76.0))
    assert state.member(B).health is MemberHealth.HEALTHY and not state.replacements_wanted  # type: ignore[union-attr]


def test_a_replacement_takes_the_stage_and_keeps_the_quorum_alive() -> None:
    state = run(active(), *beat_all(70.0)[::2], Tick(70.0))
    state = run(
        state,
        MemberReplaced(B, member(D, 4, 8, Tier.T3), 80.0),
        Heartbeat(A, 125.0),
        Heartbeat(C, 125.0),
        Tick(130.0),
    )
    assert state.phase is QuorumPhase.ACTIVE
    assert [m.node_id for m in state.members] == [A, D, C] and state.member(D).member.stage == LayerRange(
        4, 8
    )  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("leaving", "replacement", "message"),
    [
        (B, member(D, 4, 9), "unchanged"),
        (B, member(D, 4, 8, Tier.T4), "not compatible"),
        (B, member(C, 4, 8), "already a member"),
        (D, member(NodeId("e"), 4, 8), "not a member"),
    ],
)
def test_invalid_replacements_are_refused(leaving: NodeId, replacement: QuorumMember, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        run(active(), MemberReplaced(leaving, replacement, 20.0))


@pytest.mark.parametrize(("last_sample_s", "slow"), [(399.9, False), (400.0, True)])
def test_latency_above_twice_the_tier_average_for_5_minutes_wants_a_replacement(
    last_sample_s: float, slow: bool
) -> None:
    samples = [
        LatencySample(B, t, latency_ms=41.0, layers=1, tier_average_ms_per_layer=20.0) for t in (100.0, 250.0, last_sample_s)
    ]
    state = run(active(), *samples)
    assert state.member(B).slow is slow  # type: ignore[union-attr]
    assert state.replacements_wanted == (((B, ReplacementReason.SLOW),) if slow else ())


def test_one_sample_at_the_bound_resets_the_slow_clock() -> None:
    state = run(
        active(),
        LatencySample(B, 100.0, latency_ms=41.0, layers=1, tier_average_ms_per_layer=20.0),
        LatencySample(B, 200.0, latency_ms=40.0, layers=1, tier_average_ms_per_layer=20.0),  # exactly 2×
        LatencySample(B, 400.0, latency_ms=41.0, layers=1, tier_average_ms_per_layer=20.0),
    )
    assert state.member(B).slow_since_s == 400.0 and not state.member(B).slow  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("case", "latency_ms", "layers", "slow"),
    [
        # A fast T2 member (12 ms/layer) given 9 layers by the balanced cut: its stage
        # takes 108 ms, over 2x the tier's 20 ms/layer average, but it is fast per layer.
        ("fast member, many layers", 108.0, 9, False),
        ("average member, one layer", 20.0, 1, False),
        ("exactly 2x per layer", 160.0, 4, False),
        # A griefer benchmarked at 15 ms/layer that runs 3x slower: 45 ms per layer.
        ("griefer, many layers", 45.0 * 6, 6, True),
        ("griefer, one layer", 45.0, 1, True),
    ],
)
def test_the_slow_bound_is_per_layer_of_the_stage(case: str, latency_ms: float, layers: int, slow: bool) -> None:
    samples = [LatencySample(B, t, latency_ms, layers, tier_average_ms_per_layer=20.0) for t in (100.0, 400.0)]
    state = run(active(), *samples)
    assert state.member(B).slow is slow, case  # type: ignore[union-attr]


def test_a_latency_sample_of_no_layers_is_refused() -> None:
    with pytest.raises(ProtocolError, match=">= 1 layer"):
        run(active(), LatencySample(B, 100.0, 40.0, 0, 20.0))


def keep_alive(state: QuorumState, until_s: float, step_s: float = 50.0) -> QuorumState:
    at_s = state.activated_at_s or 0.0
    while at_s < until_s:
        at_s = min(at_s + step_s, until_s)
        state = run(state, *beat_all(at_s))
    return state


def test_renewal_at_80_percent_extends_until_the_14400_s_cap() -> None:
    state = run(active(at_s=0.0), BatchesCompleted(1000, 100.0))
    state = run(keep_alive(state, 2879.9), Tick(2879.9))
    assert state.session_ends_s == 3600.0 and state.renewal_due_s == 2880.0
    state = run(state, Tick(2880.0))
    assert state.phase is QuorumPhase.ACTIVE
    assert (state.session_ends_s, state.renewal_due_s, state.batches_in_session) == (7200.0, 6480.0, 0)
    for due_s, ends_s in ((6480.0, 10800.0), (10080.0, 14400.0)):
        state = run(keep_alive(state, due_s), BatchesCompleted(1000, due_s), Tick(due_s))
        assert state.session_ends_s == ends_s
    assert state.renewal_due_s is None  # the cap leaves nothing to extend
    state = run(keep_alive(state, 14399.0), BatchesCompleted(5000, 14399.0), Tick(14399.0))
    assert state.phase is QuorumPhase.ACTIVE
    state = run(keep_alive(state, 14400.0), Tick(14400.0))
    assert state.dissolve_reason is DissolveReason.SESSION_ENDED


def test_short_sessions_below_20_nodes_renew_the_same_way() -> None:
    state = run(
        active(session_s=1800.0, at_s=0.0), BatchesCompleted(1000, 10.0), *beat_all(1440.0), Tick(1440.0)
    )
    assert (state.session_ends_s, state.renewal_due_s) == (3600.0, 3240.0)


def test_fewer_than_1000_batches_means_no_renewal() -> None:
    state = run(active(at_s=0.0), BatchesCompleted(999, 100.0), *beat_all(2880.0), Tick(2880.0))
    assert (
        state.phase is QuorumPhase.ACTIVE and state.renewal_due_s is None and state.session_ends_s == 3600.0
    )
    state = run(keep_alive(state, 3600.0), BatchesCompleted(10_000, 3500.0), Tick(3600.0))
    assert state.dissolve_reason is DissolveReason.SESSION_ENDED


def test_an_underperformer_is_replaced_before_the_renewal_goes_through() -> None:
    state = run(active(at_s=0.0), BatchesCompleted(1200, 100.0), *beat_all(2800.0))
    state = run(
        state, *beat_all(2880.0), LatencySample(C, 2500.0, 90.0, 1, 20.0), LatencySample(C, 2880.0, 90.0, 1, 20.0)
    )
    state = run(state, Tick(2880.0))
    assert state.phase is QuorumPhase.RENEWING and state.replacements_wanted == ((C, ReplacementReason.SLOW),)
    state = run(state, MemberReplaced(C, member(D, 8, 11), 2900.0))
    assert state.phase is QuorumPhase.ACTIVE and state.session_ends_s == 7200.0


def test_renewing_without_a_replacement_dissolves_at_the_session_end() -> None:
    state = run(
        active(at_s=0.0),
        BatchesCompleted(1200, 100.0),
        MemberLeaving(B, 2000.0),
        *beat_all(2880.0),
        Tick(2880.0),
    )
    assert state.phase is QuorumPhase.RENEWING and state.replacements_wanted == (
        (B, ReplacementReason.LEAVING),
    )
    state = run(keep_alive(state, 3600.0), Tick(3600.0))
    assert state.dissolve_reason is DissolveReason.SESSION_ENDED


def test_an_architecture_upgrade_dissolves_in_any_live_phase() -> None:
    for state in (start_quorum(proposal()), active()):
        upgraded = apply_event(state, ArchitectureUpgraded(20.0))
        assert upgraded.dissolve_reason is DissolveReason.ARCHITECTURE_UPGRADE


def test_a_dissolved_quorum_ignores_everything() -> None:
    dissolved = run(active(), ArchitectureUpgraded(20.0))
    after = run(dissolved, *beat_all(30.0), BatchesCompleted(5, 30.0), Tick(5000.0), MemberLeaving(A, 30.0))
    assert after == dissolved


def test_strangers_and_negative_counts() -> None:
    state = active()
    assert run(state, Heartbeat(D, 20.0), LatencySample(D, 20.0, 500.0, 1, 10.0)) == state
    with pytest.raises(ProtocolError, match="batch count"):
        run(state, BatchesCompleted(-1, 20.0))


def test_leaving_before_activation_counts_as_a_refusal() -> None:
    state = run(start_quorum(proposal()), MemberLeaving(C, 2.0))
    assert state.dissolve_reason is DissolveReason.PROPOSAL_REFUSED


def test_the_same_events_give_the_same_state() -> None:
    events = (
        ProposalAccepted(B, 1.0),
        ProposalAccepted(C, 2.0),
        BatchesCompleted(7, 3.0),
        *beat_all(40.0),
        Tick(70.0),
    )
    assert run(start_quorum(proposal()), *events) == run(start_quorum(proposal()), *events)


@given(
    flags=st.lists(
        st.tuples(st.booleans(), st.sampled_from(list(MemberHealth)), st.booleans()),
        min_size=3,
        max_size=3,
    )
)
def test_replacements_wanted_is_each_members_reason_in_pipeline_order(
    flags: list[tuple[bool, MemberHealth, bool]],
) -> None:
    state = active()
    members = tuple(
        replace(m, leaving=leaving, health=health, slow=slow)
        for m, (leaving, health, slow) in zip(state.members, flags, strict=True)
    )
    state = replace(state, members=members)
    plain = tuple((m.node_id, m.replacement_reason) for m in members if m.replacement_reason is not None)
    assert state.replacements_wanted == plain


@given(
    silences_s=st.lists(st.floats(min_value=0.0, max_value=300.0), min_size=3, max_size=3),
    healths=st.lists(st.sampled_from(list(MemberHealth)), min_size=3, max_size=3),
    offline_after_s=st.sampled_from([30.0, 90.0, 120.0]),  # below, between and above 60 s
)
def test_a_tick_sets_each_members_health_from_its_silence(
    silences_s: list[float], healths: list[MemberHealth], offline_after_s: float
) -> None:
    at_s = 1000.0
    state = active()
    config = replace(state.config, offline_after_s=offline_after_s)
    members = tuple(
        replace(m, last_heartbeat_s=at_s - silent_s, health=health)
        for m, silent_s, health in zip(state.members, silences_s, healths, strict=True)
    )
    state = replace(state, members=members, config=config)
    degraded_after_s = config.degraded_after_missed_heartbeats * config.heartbeat_interval_s
    expected = [
        MemberHealth.OFFLINE
        if at_s - m.last_heartbeat_s >= offline_after_s
        else MemberHealth.DEGRADED
        if at_s - m.last_heartbeat_s >= degraded_after_s
        else m.health
        for m in members
    ]
    after = apply_event(state, Tick(at_s))
    assert [m.health for m in after.members] == expected
    assert after.phase is (
        QuorumPhase.DISSOLVED if MemberHealth.OFFLINE in expected else QuorumPhase.ACTIVE
    )
    if expected == healths:
        assert after.members == members
