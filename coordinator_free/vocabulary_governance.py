"""A vocabulary proposal's life as a pure state machine (DESIGN.md §11).

    DISCUSSION ──end──▶ VOTING ──end, passed──▶ GRACE ──end──▶ ACTIVE ──▶ ROLLBACK_VOTING
      ▲    │ amendment           │ failed                         ▲  failed  │ passed
      └────┘ restarts it          ▼                               └──────────┤
                               REJECTED                               ROLLED_BACK

Durations are a `GovernanceDurations` so tests run them in seconds. Periods
chain from their scheduled ends (voting opens exactly when discussion ends,
however late the tick that notices it), so every node that applies the same
events computes the same deadlines.

Choices DESIGN leaves open:

- Only votes cast inside the voting window count; votes before it or after
  its end are ignored. Amending is only possible during discussion, by the
  proposer, under the same proposal id; the amended proposal is validated
  again and the discussion period restarts from the amendment.
- A rejected proposal returns the proposer's stake, without a reward.
- Activation returns the stake plus `VOCAB_PROPOSER_REWARD_FRACTION` of it.
- Emergency rollback: backers (distinct nodes, each with the stake the ledger
  shows) accumulate; once their stake reaches 10 % of the total the 48-hour
  vote opens. It is tallied like a proposal (30 % turnout, 66 % approval).
  If it passes, the previous vocab_version returns and the proposer is
  slashed `VOCAB_ROLLBACK_SLASH_FRACTION` of the proposal stake; if not, the
  vocabulary stays ACTIVE and a new rollback may be called.
The state says what to pay (`settlement`); the ledger makes it happen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from .constants import (
    VOCAB_DISCUSSION_S,
    VOCAB_GRACE_S,
    VOCAB_PROPOSER_REWARD_FRACTION,
    VOCAB_ROLLBACK_CALL_STAKE_FRACTION,
    VOCAB_ROLLBACK_SLASH_FRACTION,
    VOCAB_ROLLBACK_VOTE_S,
    VOCAB_VOTING_S,
)
from .errors import ProtocolError
from .types import NodeId
from .vocabulary import (
    TallyResult,
    VocabProposal,
    Vote,
    final_votes,
    tally_votes,
    validate_proposal,
)


class GovernancePhase(Enum):
    DISCUSSION = "discussion"
    VOTING = "voting"
    GRACE = "grace"  # nodes expand embedding and head
    ACTIVE = "active"  # the new vocab_version is in force
    REJECTED = "rejected"
    ROLLBACK_VOTING = "rollback_voting"
    ROLLED_BACK = "rolled_back"


@dataclass(frozen=True)
class GovernanceDurations:
    discussion_s: float = VOCAB_DISCUSSION_S  # debate, restarted by an amendment, s
    voting_s: float = VOCAB_VOTING_S  # stake-weighted vote, s
    grace_s: float = VOCAB_GRACE_S  # nodes expand embedding and head, s
    rollback_vote_s: float = VOCAB_ROLLBACK_VOTE_S  # emergency rollback vote, s


@dataclass(frozen=True)
class Settlement:
    """What the ledger should do with the proposer's stake, NEURO."""

    stake_returned: float = 0.0
    reward: float = 0.0
    slashed: float = 0.0


@dataclass(frozen=True)
class GovernanceState:
    proposal: VocabProposal
    phase: GovernancePhase
    phase_started_s: float  # when the current phase began
    phase_ends_s: float | None  # scheduled end of the current phase; None in ACTIVE / final
    vocab_version: int  # the version in force for this proposal's outcome
    votes: tuple[Vote, ...] = ()  # votes on the proposal (or on the rollback)
    tally: TallyResult | None = None  # the last tally made
    rollback_backers: tuple[tuple[NodeId, float], ...] = ()  # (backer, stake), sorted
    settlement: Settlement | None = None  # set when the proposer's stake is decided
    existing_tokens: frozenset[bytes] = frozenset()  # the base vocabulary, to validate amendments
    durations: GovernanceDurations = GovernanceDurations()


@dataclass(frozen=True)
class Amendment:
    proposal: VocabProposal  # the whole amended proposal, same id and proposer
    at_s: float


@dataclass(frozen=True)
class CastVote:
    vote: Vote


@dataclass(frozen=True)
class CastVotes:
    """Many votes at once (a gossip round's worth): the same as casting each in turn,
    in O(V log V) rather than O(V²) for V votes."""

    votes: tuple[Vote, ...]


@dataclass(frozen=True)
class RollbackBacked:
    backer: NodeId
    stake: float  # the backer's stake, NEURO
    total_stake: float  # all stake in the network now, NEURO
    at_s: float


@dataclass(frozen=True)
class GovernanceTick:
    at_s: float
    total_stake: float  # all stake at the start of the vote being closed, NEURO


def open_proposal(
    proposal: VocabProposal,
    *,
    at_s: float,
    existing_tokens: frozenset[bytes] = frozenset(),
    durations: GovernanceDurations | None = None,
) -> GovernanceState:
    """Start discussion of a valid proposal; raises with every problem of an invalid one."""
    durations = durations or GovernanceDurations()
    _require_valid(proposal, existing_tokens)
    return GovernanceState(
        proposal=proposal,
        phase=GovernancePhase.DISCUSSION,
        phase_started_s=at_s,
        phase_ends_s=at_s + durations.discussion_s,
        vocab_version=proposal.base_vocab_version,
        existing_tokens=existing_tokens,
        durations=durations,
    )


def _require_valid(proposal: VocabProposal, existing_tokens: frozenset[bytes]) -> None:
    problems = validate_proposal(proposal, existing_tokens=existing_tokens)
    if problems:
        raise ProtocolError(f"proposal {proposal.proposal_id} is invalid: " + "; ".join(problems))


def apply_amendment(state: GovernanceState, event: Amendment) -> GovernanceState:
    amended = event.proposal
    if state.phase is not GovernancePhase.DISCUSSION:
        raise ProtocolError(
            f"proposal {state.proposal.proposal_id} is in {state.phase.value}: amend only in discussion"
        )
    if (amended.proposal_id, amended.proposer) != (state.proposal.proposal_id, state.proposal.proposer):
        raise ProtocolError("an amendment keeps the proposal id and proposer")
    _require_valid(amended, state.existing_tokens)
    return replace(
        state,
        proposal=amended,
        phase_started_s=event.at_s,
        phase_ends_s=event.at_s + state.durations.discussion_s,
    )


def apply_cast_vote(state: GovernanceState, event: CastVote) -> GovernanceState:
    voting = state.phase in (GovernancePhase.VOTING, GovernancePhase.ROLLBACK_VOTING)
    if not voting or state.phase_ends_s is None:
        return state
    if not state.phase_started_s <= event.vote.at_s < state.phase_ends_s:
        return state  # outside the window: not counted
    return replace(state, votes=final_votes((*state.votes, event.vote)))


def apply_cast_votes(state: GovernanceState, event: CastVotes) -> GovernanceState:
    voting = state.phase in (GovernancePhase.VOTING, GovernancePhase.ROLLBACK_VOTING)
    if not voting or state.phase_ends_s is None:
        return state
    counted = [v for v in event.votes if state.phase_started_s <= v.at_s < state.phase_ends_s]
    return replace(state, votes=final_votes((*state.votes, *counted))) if counted else state


def apply_rollback_backed(state: GovernanceState, event: RollbackBacked) -> GovernanceState:
    if state.phase is not GovernancePhase.ACTIVE:
        return state
    backers = dict(state.rollback_backers)
    backers.setdefault(event.backer, event.stake)
    ordered = tuple(sorted(backers.items()))
    backing = sum(stake for _, stake in ordered)
    if backing >= VOCAB_ROLLBACK_CALL_STAKE_FRACTION * event.total_stake:
        return _enter(
            state,
            GovernancePhase.ROLLBACK_VOTING,
            event.at_s,
            state.durations.rollback_vote_s,
            votes=(),
            rollback_backers=ordered,
        )
    return replace(state, rollback_backers=ordered)


def apply_governance_tick(state: GovernanceState, event: GovernanceTick) -> GovernanceState:
    """Close every phase whose end has passed (a late tick may close several)."""
    while state.phase_ends_s is not None and event.at_s >= state.phase_ends_s:
        state = _close_phase(state, event.total_stake)
    return state


def _enter(
    state: GovernanceState,
    phase: GovernancePhase,
    at_s: float,
    duration_s: float | None = None,
    **changes: object,
) -> GovernanceState:
    """Start `phase` at `at_s`; it ends after `duration_s`, or never (None)."""
    ends_s = None if duration_s is None else at_s + duration_s
    return replace(state, phase=phase, phase_started_s=at_s, phase_ends_s=ends_s, **changes)  # type: ignore[arg-type]


def _close_phase(state: GovernanceState, total_stake: float) -> GovernanceState:
    ends_s = state.phase_ends_s if state.phase_ends_s is not None else 0.0
    stake = state.proposal.stake
    durations = state.durations
    if state.phase is GovernancePhase.DISCUSSION:
        return _enter(state, GovernancePhase.VOTING, ends_s, durations.voting_s)
    if state.phase is GovernancePhase.VOTING:
        tally = tally_votes(state.votes, total_stake)
        if not tally.passed:
            return _enter(
                state,
                GovernancePhase.REJECTED,
                ends_s,
                tally=tally,
                settlement=Settlement(stake_returned=stake),
            )
        return _enter(state, GovernancePhase.GRACE, ends_s, durations.grace_s, tally=tally)
    if state.phase is GovernancePhase.GRACE:
        return _enter(
            state,
            GovernancePhase.ACTIVE,
            ends_s,
            vocab_version=state.proposal.base_vocab_version + 1,
            settlement=Settlement(stake_returned=stake, reward=VOCAB_PROPOSER_REWARD_FRACTION * stake),
        )
    if state.phase is GovernancePhase.ROLLBACK_VOTING:
        tally = tally_votes(state.votes, total_stake)
        if not tally.passed:
            return _enter(state, GovernancePhase.ACTIVE, ends_s, tally=tally, votes=(), rollback_backers=())
        slashed = VOCAB_ROLLBACK_SLASH_FRACTION * stake
        return _enter(
            state,
            GovernancePhase.ROLLED_BACK,
            ends_s,
            tally=tally,
            vocab_version=state.proposal.base_vocab_version,
            settlement=replace(state.settlement or Settlement(), slashed=slashed),
        )
    raise ProtocolError(f"phase {state.phase.value} has no end to close")


GovernanceEvent = Amendment | CastVote | CastVotes | RollbackBacked | GovernanceTick

_APPLY = {
    Amendment: apply_amendment,
    CastVote: apply_cast_vote,
    CastVotes: apply_cast_votes,
    RollbackBacked: apply_rollback_backed,
    GovernanceTick: apply_governance_tick,
}


def apply_governance_event(state: GovernanceState, event: GovernanceEvent) -> GovernanceState:
    return _APPLY[type(event)](state, event)  # type: ignore[operator]
