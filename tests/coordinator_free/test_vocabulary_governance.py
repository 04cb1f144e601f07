"""The vocabulary governance state machine with durations shrunk to seconds (§11)."""

from __future__ import annotations

from dataclasses import replace
from functools import reduce

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.types import NodeId, ProposalId
from coordinator_free.vocabulary import MergeCandidate, VocabProposal, Vote, VoteChoice
from coordinator_free.vocabulary_governance import (
    Amendment,
    CastVote,
    GovernanceDurations,
    GovernanceEvent,
    GovernancePhase,
    GovernanceState,
    GovernanceTick,
    RollbackBacked,
    Settlement,
    apply_governance_event,
    open_proposal,
)

# discussion 10 s, voting 10 s, grace 10 s, rollback vote 5 s
FAST = GovernanceDurations(discussion_s=10.0, voting_s=10.0, grace_s=10.0, rollback_vote_s=5.0)
TOTAL_STAKE = 1000.0
PROPOSAL = VocabProposal(
    proposal_id=ProposalId("p1"),
    proposer=NodeId("alice"),
    stake=200.0,
    base_vocab_version=4,
    merges=(MergeCandidate(b"th", b"e", 5000),),
)


def opened() -> GovernanceState:
    return open_proposal(PROPOSAL, at_s=0.0, durations=FAST)


def run(state: GovernanceState, *events: GovernanceEvent) -> GovernanceState:
    return reduce(apply_governance_event, events, state)


def cast(voter: str, choice: VoteChoice, stake: float, at_s: float) -> CastVote:
    return CastVote(Vote(NodeId(voter), choice, stake, at_s))


def tick(at_s: float) -> GovernanceTick:
    return GovernanceTick(at_s, TOTAL_STAKE)


PASSING = (cast("v1", VoteChoice.APPROVE, 300.0, 12.0), cast("v2", VoteChoice.REJECT, 100.0, 13.0))


def activated() -> GovernanceState:
    return run(opened(), tick(10.0), *PASSING, tick(20.0), tick(30.0))


def test_discussion_then_voting_then_grace_then_active() -> None:
    state = run(opened(), tick(9.9))
    assert state.phase is GovernancePhase.DISCUSSION
    state = run(state, tick(10.0))
    assert (state.phase, state.phase_started_s, state.phase_ends_s) == (GovernancePhase.VOTING, 10.0, 20.0)
    state = run(state, *PASSING, tick(20.0))
    assert state.phase is GovernancePhase.GRACE and state.tally is not None and state.tally.passed
    assert state.vocab_version == 4
    state = run(state, tick(30.0))
    assert state.phase is GovernancePhase.ACTIVE and state.vocab_version == 5
    assert state.settlement == Settlement(stake_returned=200.0, reward=10.0)


def test_a_late_tick_closes_every_phase_it_passed() -> None:
    state = run(opened(), tick(10.0), *PASSING, tick(500.0))
    assert state.phase is GovernancePhase.ACTIVE


def test_an_amendment_restarts_the_discussion() -> None:
    amended = replace(PROPOSAL, merges=(MergeCandidate(b"an", b"d", 4000),))
    state = run(opened(), Amendment(amended, at_s=8.0), tick(10.0))
    assert state.phase is GovernancePhase.DISCUSSION and state.phase_ends_s == 18.0
    assert state.proposal == amended
    assert run(state, tick(18.0)).phase is GovernancePhase.VOTING


@pytest.mark.parametrize(
    ("amended", "message"),
    [
        (replace(PROPOSAL, proposer=NodeId("mallory")), "keeps the proposal id"),
        (replace(PROPOSAL, merges=(MergeCandidate(b"pass", b"word", 5000),)), "sensitive"),
    ],
)
def test_bad_amendments_are_refused(amended: VocabProposal, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        run(opened(), Amendment(amended, at_s=1.0))


def test_no_amendment_once_voting_started() -> None:
    with pytest.raises(ProtocolError, match="amend only in discussion"):
        run(opened(), tick(10.0), Amendment(PROPOSAL, at_s=11.0))


def test_invalid_proposals_do_not_open() -> None:
    with pytest.raises(ProtocolError, match="stake 50.0 NEURO"):
        open_proposal(replace(PROPOSAL, stake=50.0), at_s=0.0)


def test_only_votes_inside_the_window_count_and_the_first_is_final() -> None:
    state = run(
        opened(),
        cast("early", VoteChoice.APPROVE, 500.0, 5.0),  # during discussion: ignored
        tick(10.0),
        cast("v1", VoteChoice.REJECT, 300.0, 10.0),
        cast("v1", VoteChoice.APPROVE, 300.0, 11.0),  # votes are final
        cast("late", VoteChoice.APPROVE, 500.0, 20.0),  # at the end: ignored
        tick(20.0),
    )
    assert state.phase is GovernancePhase.REJECTED
    assert state.tally is not None and (state.tally.approve_stake, state.tally.reject_stake) == (0.0, 300.0)
    assert state.settlement == Settlement(stake_returned=200.0)


def test_low_turnout_rejects_even_a_unanimous_vote() -> None:
    state = run(opened(), tick(10.0), cast("v1", VoteChoice.APPROVE, 299.0, 12.0), tick(20.0))
    assert state.phase is GovernancePhase.REJECTED and state.tally is not None and not state.tally.valid


def test_rollback_needs_ten_percent_of_stake_to_open_a_vote() -> None:
    state = run(activated(), RollbackBacked(NodeId("b1"), 60.0, TOTAL_STAKE, 40.0))
    assert state.phase is GovernancePhase.ACTIVE
    state = run(state, RollbackBacked(NodeId("b1"), 60.0, TOTAL_STAKE, 41.0))  # the same backer twice
    assert state.phase is GovernancePhase.ACTIVE
    state = run(state, RollbackBacked(NodeId("b2"), 40.0, TOTAL_STAKE, 42.0))
    assert (state.phase, state.phase_ends_s) == (GovernancePhase.ROLLBACK_VOTING, 47.0)


def test_a_passed_rollback_restores_the_version_and_slashes_the_proposer() -> None:
    state = run(
        activated(),
        RollbackBacked(NodeId("b1"), 100.0, TOTAL_STAKE, 40.0),
        cast("v1", VoteChoice.APPROVE, 400.0, 41.0),
        tick(44.9),
    )
    assert state.phase is GovernancePhase.ROLLBACK_VOTING
    state = run(state, tick(45.0))  # 48 h (here 5 s) after the call
    assert state.phase is GovernancePhase.ROLLED_BACK and state.vocab_version == 4
    assert state.settlement == Settlement(stake_returned=200.0, reward=10.0, slashed=200.0)


def test_a_failed_rollback_keeps_the_vocabulary() -> None:
    state = run(
        activated(),
        RollbackBacked(NodeId("b1"), 100.0, TOTAL_STAKE, 40.0),
        cast("v1", VoteChoice.APPROVE, 100.0, 41.0),
        cast("v2", VoteChoice.REJECT, 300.0, 41.0),
        tick(45.0),
    )
    assert (state.phase, state.vocab_version, state.rollback_backers) == (GovernancePhase.ACTIVE, 5, ())
    assert state.settlement is not None and state.settlement.slashed == 0.0


def test_rejected_is_final() -> None:
    state = run(opened(), tick(20.0))
    assert state.phase is GovernancePhase.REJECTED
    assert run(state, RollbackBacked(NodeId("b"), 999.0, TOTAL_STAKE, 30.0), tick(99.0)) == state


def test_default_durations_are_seven_days_and_48_hours() -> None:
    durations = GovernanceDurations()
    assert (durations.discussion_s, durations.voting_s, durations.grace_s) == (604800.0,) * 3
    assert durations.rollback_vote_s == 172800.0
