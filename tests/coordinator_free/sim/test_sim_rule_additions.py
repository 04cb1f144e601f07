"""The pieces the simulator added to the rules agree with the rules they stand beside.

Each array or count-level entry point must give exactly what the per-node or
per-view rule gives, so that the simulator calling it is calling the rule.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator_free.claims import scarcity_scores
from coordinator_free.growth import check_growth, check_growth_from_counts
from coordinator_free.network_view import LayerRange, NetworkView, NodeView
from coordinator_free.quorum_formation import QuorumProposal, form_quorum
from coordinator_free.rewards import (
    WorkPeriod,
    WorkPeriods,
    layer_weight_sums,
    layer_weights,
    period_reward,
    period_rewards,
)
from coordinator_free.types import NodeId, QuorumId

LAYERS = 11


def _node(
    index: int, speed_ms: float, layers: LayerRange | None, memory_bytes: int = 10**10
) -> NodeView:
    return NodeView(
        node_id=NodeId(f"n{index:04d}"),
        speed_ms_per_layer=speed_ms,
        layer_range=layers,
        max_layers=LAYERS,
        memory_bytes=memory_bytes,
    )


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, LAYERS),
            st.integers(0, LAYERS),
            st.integers(0, 5000),
            st.integers(0, 5000),
            st.floats(0, 10 * 86400),
            st.floats(0, 86400),
            st.integers(0, 10**5),
        ),
        min_size=1,
        max_size=12,
    ),
    holders=st.lists(st.integers(0, 5), min_size=LAYERS, max_size=LAYERS),
)
def test_period_rewards_equal_period_reward_row_by_row(rows, holders) -> None:
    starts = np.array([min(a, b) for a, b, *_ in rows])
    stops = np.array([max(a, b) for a, b, *_ in rows])
    scarcity = scarcity_scores(np.array(holders), 3)
    per_layer = np.array(layer_weights(LayerRange(0, LAYERS), scarcity))
    columns = WorkPeriods(
        layer_count=LAYERS,
        starts=starts,
        stops=stops,
        pipeline_batches=np.array([r[2] for r in rows], dtype=np.float64),
        async_batches=np.array([r[3] for r in rows], dtype=np.float64),
        async_age_s=np.array([r[4] for r in rows]),
        uptime_s=np.array([r[5] for r in rows]),
        samples_served=np.array([r[6] for r in rows], dtype=np.float64),
    )
    totals = period_rewards(columns, layer_weight_sums(starts, stops, per_layer)).total
    for index, (_, _, pipeline, asynchronous, age_s, uptime_s, samples) in enumerate(
        rows
    ):
        held = (
            LayerRange(int(starts[index]), int(stops[index]))
            if stops[index] > starts[index]
            else None
        )
        work = WorkPeriod(
            LAYERS, held, pipeline, asynchronous, age_s, uptime_s, samples
        )
        weights = layer_weights(held, scarcity) if held else None
        assert totals[index] == pytest.approx(
            period_reward(work, weights).total, rel=1e-12, abs=1e-15
        )


def test_growth_from_counts_equals_growth_from_the_view() -> None:
    nodes = tuple(
        _node(i, 20.0 + i, LayerRange(0, LAYERS), memory_bytes=(i + 1) * 10**10)
        for i in range(25)
    )
    view = NetworkView(nodes, LAYERS)
    for steps in (0, 20_000):
        for layer_bytes in (5 * 10**7, 10**11):
            expected = check_growth(
                view,
                layer_memory_bytes=layer_bytes,
                fixed_memory_bytes=10**7,
                steps_since_upgrade=steps,
            )
            got = check_growth_from_counts(
                network_size=view.size,
                total_memory_bytes=view.total_memory_bytes,
                holder_counts=view.holder_counts,
                layer_memory_bytes=layer_bytes,
                fixed_memory_bytes=10**7,
                steps_since_upgrade=steps,
            )
            assert got == expected


def test_formation_on_a_sample_with_the_network_size_decides_as_on_the_whole_view() -> (
    None
):
    # 30 nodes, 27 of them busy: the sample of the 3 free ones plus n = 30
    # must give the n = 30 minimum size (3) and session (3600 s).
    nodes = [_node(i, 20.0, LayerRange(0, LAYERS)) for i in range(30)]
    free = nodes[:3]
    nodes[3:] = [replace(node, quorum_id=QuorumId("busy")) for node in nodes[3:]]
    whole = form_quorum(
        free[0].node_id, NetworkView(tuple(nodes), LAYERS), now_s=5.0, latency_ms={}
    )
    sample = form_quorum(
        free[0].node_id,
        NetworkView(tuple(free), LAYERS),
        now_s=5.0,
        latency_ms={},
        network_size=30,
    )
    assert isinstance(whole, QuorumProposal) and isinstance(sample, QuorumProposal)
    assert sample == whole
    assert len(sample.members) == 3 and sample.session_s == 3600.0
    unsized = form_quorum(
        free[0].node_id, NetworkView(tuple(free), LAYERS), now_s=5.0, latency_ms={}
    )
    assert isinstance(unsized, QuorumProposal) and unsized.session_s == 1800.0


def test_a_failed_audit_dissolves_a_live_quorum_and_nothing_else() -> None:
    from coordinator_free.quorum_events import AuditFailed, ProposalAccepted
    from coordinator_free.quorum_lifecycle import apply_event, start_quorum
    from coordinator_free.quorum_state import DissolveReason, QuorumPhase

    nodes = tuple(_node(i, 20.0, LayerRange(0, LAYERS)) for i in range(3))
    proposal = form_quorum(
        nodes[0].node_id, NetworkView(nodes, LAYERS), now_s=0.0, latency_ms={}
    )
    assert isinstance(proposal, QuorumProposal)
    state = start_quorum(proposal)
    for member in proposal.members:
        state = apply_event(state, ProposalAccepted(member.node_id, 1.0))
    assert state.phase is QuorumPhase.ACTIVE
    dissolved = apply_event(state, AuditFailed(at_s=50.0))
    assert dissolved.phase is QuorumPhase.DISSOLVED
    assert dissolved.dissolve_reason is DissolveReason.AUDIT_FAILED
    assert apply_event(dissolved, AuditFailed(at_s=60.0)) == dissolved


def test_casting_votes_in_one_batch_equals_casting_them_one_by_one() -> None:
    from coordinator_free.types import ProposalId
    from coordinator_free.vocabulary import (
        MergeCandidate,
        VocabProposal,
        Vote,
        VoteChoice,
    )
    from coordinator_free.vocabulary_governance import (
        CastVote,
        CastVotes,
        GovernanceDurations,
        GovernanceTick,
        apply_governance_event,
        open_proposal,
    )

    proposal = VocabProposal(
        ProposalId("p"), NodeId("n0000"), 100.0, 1, (MergeCandidate(b"t", b"h", 5000),)
    )
    durations = GovernanceDurations(
        discussion_s=10.0, voting_s=10.0, grace_s=10.0, rollback_vote_s=10.0
    )
    state = open_proposal(proposal, at_s=0.0, durations=durations)
    state = apply_governance_event(state, GovernanceTick(at_s=10.0, total_stake=100.0))
    choices = list(VoteChoice)
    votes = [
        Vote(
            NodeId(f"n{i % 7:04d}"),
            choices[i % 3],
            float(i + 1),
            at_s=9.0 + (i % 5) * 0.9,
        )
        for i in range(30)
    ]
    one_by_one = state
    for vote in votes:
        one_by_one = apply_governance_event(one_by_one, CastVote(vote))
    batched = apply_governance_event(state, CastVotes(tuple(votes)))
    assert batched.votes == one_by_one.votes and batched.votes


def test_heartbeats_in_one_event_equal_one_heartbeat_each() -> None:
    from coordinator_free.quorum_events import (
        BatchesCompleted,
        Heartbeat,
        Heartbeats,
        ProposalAccepted,
        Tick,
    )
    from coordinator_free.quorum_lifecycle import apply_event, start_quorum
    from coordinator_free.quorum_state import QuorumPhase

    nodes = tuple(_node(i, 20.0 + i, LayerRange(0, LAYERS)) for i in range(4))
    proposal = form_quorum(
        nodes[0].node_id,
        NetworkView(nodes, LAYERS),
        now_s=0.0,
        latency_ms={},
        network_size=30,
    )
    assert isinstance(proposal, QuorumProposal)
    ids = [m.node_id for m in proposal.members]
    state = start_quorum(proposal)
    for node_id in ids:
        state = apply_event(state, ProposalAccepted(node_id, 1.0))
    # Renewal due, one member silent long enough to be degraded: the batch must
    # restore it and extend exactly as heartbeats one by one do.
    state = apply_event(state, BatchesCompleted(5000, 2000.0))
    state = apply_event(state, Heartbeat(ids[0], 2880.0))
    for node_id in ids[1:]:
        state = apply_event(state, Heartbeat(node_id, 2940.0))
    state = apply_event(state, Tick(2950.0))
    assert state.phase is QuorumPhase.RENEWING and state.replacements_wanted
    for heard in (ids, ids[:1], [*ids, NodeId("stranger")]):
        one_by_one = state
        for node_id in heard:
            one_by_one = apply_event(one_by_one, Heartbeat(node_id, 3000.0))
        assert apply_event(state, Heartbeats(tuple(heard), 3000.0)) == one_by_one
    assert (
        apply_event(state, Heartbeats(tuple(ids), 3000.0)).phase is QuorumPhase.ACTIVE
    )  # extended
