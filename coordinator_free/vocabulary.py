"""Vocabulary proposals and stake-weighted votes (DESIGN.md §11).

A proposal adds tokens by BPE merges: each merge joins two existing tokens
(`left` + `right` bytes) into one, with the number of times the pair occurs
in the genesis data as evidence. Validation returns every problem rather
than raising, because a proposal is a peer's record: data, not an error.

Choices DESIGN leaves open:

- Sensitive patterns are matched case-insensitively as substrings of the new
  token's bytes, so "Password" and "apikey" are refused, and so is "monkey":
  the rule is deliberately blunt, a proposer can leave such merges out.
- A merge must create a token that is new: not already in the vocabulary and
  not twice in the proposal.
- Tally: turnout counts approve, reject and abstain; approval is approve ÷
  (approve + reject), so abstaining helps a vote be valid without counting
  against it. Boundaries are inclusive (30 % turnout and 66 % approval
  exactly both pass), compared with a relative tolerance of 1e-9 so that
  stake sums in binary floating point do not flip a tie.
- Votes are final: a voter's earliest vote counts (ties in time: the smaller
  choice value), whatever order the votes arrive in. A vote's weight is the
  stake recorded in it; the caller takes it from the ledger as of the start
  of voting, so stake moved during the vote does not count twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from .constants import (
    VOCAB_APPROVAL_FRACTION,
    VOCAB_MAX_NEW_TOKENS,
    VOCAB_MIN_MERGE_FREQUENCY_EXCLUSIVE,
    VOCAB_MIN_TURNOUT_FRACTION,
    VOCAB_PROPOSER_MIN_STAKE,
    VOCAB_SENSITIVE_PATTERNS,
)
from .errors import ProtocolError
from .types import NodeId, ProposalId

_RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class MergeCandidate:
    left: bytes  # an existing token's bytes
    right: bytes  # an existing token's bytes
    frequency: int  # occurrences of the pair in the genesis data

    @property
    def token(self) -> bytes:
        return self.left + self.right


@dataclass(frozen=True)
class VocabProposal:
    proposal_id: ProposalId
    proposer: NodeId
    stake: float  # NEURO the proposer locks until the outcome
    base_vocab_version: int  # the version the merges apply to
    merges: tuple[MergeCandidate, ...]


def validate_proposal(
    proposal: VocabProposal, *, existing_tokens: frozenset[bytes] = frozenset()
) -> tuple[str, ...]:
    """Every reason the proposal is invalid; empty when it is valid."""
    problems = []
    if proposal.stake < VOCAB_PROPOSER_MIN_STAKE:
        problems.append(f"proposer stake {proposal.stake} NEURO < the minimum {VOCAB_PROPOSER_MIN_STAKE}")
    if not proposal.merges:
        problems.append("a proposal needs at least one merge")
    if len(proposal.merges) > VOCAB_MAX_NEW_TOKENS:
        problems.append(f"{len(proposal.merges)} new tokens > the maximum {VOCAB_MAX_NEW_TOKENS}")
    seen: set[bytes] = set()
    for index, merge in enumerate(proposal.merges):
        problems.extend(f"merge {index}: {p}" for p in _merge_problems(merge, seen, existing_tokens))
        seen.add(merge.token)
    return tuple(problems)


def _merge_problems(merge: MergeCandidate, seen: set[bytes], existing_tokens: frozenset[bytes]) -> list[str]:
    problems = []
    if not merge.left or not merge.right:
        problems.append("both sides of a merge must be non-empty")
    if merge.frequency <= VOCAB_MIN_MERGE_FREQUENCY_EXCLUSIVE:
        problems.append(f"frequency {merge.frequency} is not above {VOCAB_MIN_MERGE_FREQUENCY_EXCLUSIVE}")
    lowered = merge.token.lower()
    hits = [pattern for pattern in VOCAB_SENSITIVE_PATTERNS if pattern.encode() in lowered]
    if hits:
        problems.append(f"token {merge.token!r} contains sensitive pattern(s) {hits}")
    if merge.token in seen:
        problems.append(f"token {merge.token!r} is proposed twice")
    if merge.token in existing_tokens:
        problems.append(f"token {merge.token!r} is already in the vocabulary")
    return problems


class VoteChoice(Enum):
    APPROVE = "approve"
    REJECT = "reject"
    ABSTAIN = "abstain"


@dataclass(frozen=True)
class Vote:
    voter: NodeId
    choice: VoteChoice
    stake: float  # the voter's stake at the start of voting, NEURO
    at_s: float  # when it was cast


@dataclass(frozen=True)
class TallyResult:
    approve_stake: float
    reject_stake: float
    abstain_stake: float
    total_stake: float  # all stake in the network at the start of voting
    turnout: float  # voting stake / total stake
    approval: float  # approve / (approve + reject); 0 when nobody decided
    valid: bool  # turnout reached the minimum
    passed: bool  # valid and approval reached the threshold


def final_votes(votes: Iterable[Vote]) -> tuple[Vote, ...]:
    """One vote per voter, the earliest; sorted by voter, so arrival order never matters."""
    earliest: dict[NodeId, Vote] = {}
    for vote in votes:
        kept = earliest.get(vote.voter)
        if kept is None or (vote.at_s, vote.choice.value) < (kept.at_s, kept.choice.value):
            earliest[vote.voter] = vote
    return tuple(earliest[voter] for voter in sorted(earliest))


def _at_least(part: float, fraction: float, whole: float) -> bool:
    bound = fraction * whole
    return part >= bound or math.isclose(part, bound, rel_tol=_RELATIVE_TOLERANCE)


def tally_votes(
    votes: Iterable[Vote],
    total_stake: float,
    *,
    min_turnout_fraction: float = VOCAB_MIN_TURNOUT_FRACTION,
    approval_fraction: float = VOCAB_APPROVAL_FRACTION,
) -> TallyResult:
    """Stake-weighted outcome of a vote: ≥ 30 % turnout, ≥ 66 % of the decided stake approving."""
    if total_stake <= 0:
        raise ProtocolError(f"total_stake must be > 0 NEURO to hold a vote, got {total_stake}")
    sums = dict.fromkeys(VoteChoice, 0.0)
    for vote in final_votes(votes):
        if vote.stake < 0:
            raise ProtocolError(f"vote by {vote.voter} carries negative stake {vote.stake}")
        sums[vote.choice] += vote.stake
    voting = sum(sums.values())
    decided = sums[VoteChoice.APPROVE] + sums[VoteChoice.REJECT]
    valid = _at_least(voting, min_turnout_fraction, total_stake)
    approved = decided > 0 and _at_least(sums[VoteChoice.APPROVE], approval_fraction, decided)
    return TallyResult(
        approve_stake=sums[VoteChoice.APPROVE],
        reject_stake=sums[VoteChoice.REJECT],
        abstain_stake=sums[VoteChoice.ABSTAIN],
        total_stake=total_stake,
        turnout=voting / total_stake,
        approval=sums[VoteChoice.APPROVE] / decided if decided else 0.0,
        valid=valid,
        passed=valid and approved,
    )
