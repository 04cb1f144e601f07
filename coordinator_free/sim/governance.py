"""Vocabulary proposals in the simulator, run by `vocabulary_governance`.

At each time the scenario lists, the richest admitted node that can afford
the proposer's stake (100 NEURO) proposes a few common byte-pair merges and
locks the stake (a `Stake` event). When discussion ends, a `turnout_share`
of the staked nodes vote, each approving with probability `approve_share`,
weighted by its stake, in one `CastVotes` batch. Every phase end is a
`GovernanceTick` with the network's total stake; the outcome's settlement
(stake back, the proposer's reward) becomes ledger events, and activation
bumps the network's vocab_version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.constants import (
    BYTE_VOCAB_SIZE,
    NANO_PER_NEURO,
    VOCAB_PROPOSER_MIN_STAKE,
)
from coordinator_free.ledger_events import Reward, Stake, Unstake, to_nano
from coordinator_free.types import ProposalId
from coordinator_free.vocabulary import MergeCandidate, VocabProposal, Vote, VoteChoice
from coordinator_free.vocabulary_governance import (
    CastVotes,
    GovernanceDurations,
    GovernancePhase,
    GovernanceTick,
    apply_governance_event,
    open_proposal,
)

from .economy import REWARDS, fold_pending
from .events import EventKind

if TYPE_CHECKING:
    from .world import World

# Common English byte pairs: frequent in the genesis data, none a sensitive pattern.
_BIGRAMS = [
    "th",
    "he",
    "in",
    "er",
    "an",
    "re",
    "on",
    "at",
    "en",
    "nd",
    "ti",
    "es",
    "or",
    "te",
    "of",
    "ed",
    "is",
    "it",
    "al",
    "ar",
    "st",
    "to",
    "nt",
    "ng",
    "se",
    "ha",
    "as",
    "ou",
    "io",
    "le",
    "ve",
    "co",
    "me",
    "de",
    "hi",
    "ri",
    "ro",
    "ic",
    "ne",
    "ea",
]
_MERGES_PER_PROPOSAL = 8
_PAIR_FREQUENCY = 5000  # occurrences in the genesis data (> the 1000 minimum)


def open_next(world: World, index: int) -> None:
    economy, table = world.economy, world.table
    fold_pending(world)
    rows = [r for r in world.online.items if table.admitted[r]]
    balances = [economy.ledger.balance(table.node_id(r)) for r in rows]
    needed = to_nano(VOCAB_PROPOSER_MIN_STAKE)
    if not rows or max(balances) < needed:
        world.tallies.vocab_no_proposer += 1
        return
    proposer = rows[int(np.argmax(balances))]
    proposer_id = table.node_id(proposer)
    economy.pending.append(Stake(proposer_id, world.now_s, proposer_id, needed))
    fold_pending(world)
    table.stake[proposer] += VOCAB_PROPOSER_MIN_STAKE
    table.touch(proposer)
    first = (index * _MERGES_PER_PROPOSAL) % len(_BIGRAMS)
    pairs = [_BIGRAMS[(first + k) % len(_BIGRAMS)] for k in range(_MERGES_PER_PROPOSAL)]
    proposal = VocabProposal(
        proposal_id=ProposalId(f"vocab-{index}"),
        proposer=proposer_id,
        stake=VOCAB_PROPOSER_MIN_STAKE,
        base_vocab_version=world.vocab_version,
        merges=tuple(
            MergeCandidate(p[0].encode(), p[1].encode(), _PAIR_FREQUENCY) for p in pairs
        ),
    )
    config = world.scenario.vocabulary
    durations = GovernanceDurations(
        discussion_s=config.discussion_h * 3600.0,
        voting_s=config.voting_h * 3600.0,
        grace_s=config.grace_h * 3600.0,
    )
    existing = (
        frozenset(bytes([b]) for b in range(BYTE_VOCAB_SIZE)) | world.merged_tokens
    )
    state = open_proposal(
        proposal, at_s=world.now_s, existing_tokens=existing, durations=durations
    )
    world.proposals[index] = (proposer, state)
    world.tallies.vocab_proposals += 1
    world.queue.push(state.phase_ends_s, EventKind.GOVERNANCE, index)


def on_phase_end(world: World, index: int) -> None:
    proposer, state = world.proposals[index]
    table = world.table
    total_stake = (
        float(table.stake[world.online.items].sum()) if len(world.online) else 0.0
    )
    before = state.phase
    state = apply_governance_event(
        state, GovernanceTick(at_s=world.now_s, total_stake=max(total_stake, 1e-9))
    )
    if state.phase is GovernancePhase.VOTING and before is GovernancePhase.DISCUSSION:
        state = apply_governance_event(state, CastVotes(_votes(world)))
    if (
        state.phase in (GovernancePhase.REJECTED, GovernancePhase.ACTIVE)
        and state.settlement is not None
    ):
        _settle(world, proposer, state)
    world.proposals[index] = (proposer, state)
    if state.phase_ends_s is not None:
        world.queue.push(state.phase_ends_s, EventKind.GOVERNANCE, index)


def _votes(world: World) -> tuple[Vote, ...]:
    table, rng, config = world.table, world.rng, world.scenario.vocabulary
    rows = [r for r in world.online.items if table.admitted[r] and table.stake[r] > 0]
    votes = []
    for row in rows:
        if rng.random() < config.turnout_share:
            choice = (
                VoteChoice.APPROVE
                if rng.random() < config.approve_share
                else VoteChoice.REJECT
            )
            votes.append(
                Vote(table.node_id(row), choice, float(table.stake[row]), world.now_s)
            )
    return tuple(votes)


def _settle(world: World, proposer: int, state) -> None:
    settlement, economy, table = state.settlement, world.economy, world.table
    proposer_id = table.node_id(proposer)
    available = economy.ledger.stake(proposer_id)
    returned = min(to_nano(settlement.stake_returned), available)
    if returned > 0:
        economy.pending.append(Unstake(proposer_id, world.now_s, proposer_id, returned))
        table.stake[proposer] -= returned / NANO_PER_NEURO
    if settlement.reward > 0:
        economy.pending.append(
            Reward(
                REWARDS,
                world.now_s,
                proposer_id,
                to_nano(settlement.reward),
                "vocabulary",
            )
        )
    fold_pending(world)
    table.touch(proposer)
    if state.phase is GovernancePhase.ACTIVE:
        world.vocab_version = state.vocab_version
        world.merged_tokens |= frozenset(m.token for m in state.proposal.merges)
        world.tallies.vocab_activated += 1
    else:
        world.tallies.vocab_rejected += 1
