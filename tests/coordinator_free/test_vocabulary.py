"""Vocabulary proposal validation and the stake-weighted tally (§11)."""

from __future__ import annotations

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.types import NodeId, ProposalId
from coordinator_free.vocabulary import (
    MergeCandidate,
    VocabProposal,
    Vote,
    VoteChoice,
    final_votes,
    tally_votes,
    validate_proposal,
)

GOOD = MergeCandidate(b"th", b"e", 5000)


def proposal(*merges: MergeCandidate, stake: float = 100.0) -> VocabProposal:
    return VocabProposal(
        proposal_id=ProposalId("p1"),
        proposer=NodeId("alice"),
        stake=stake,
        base_vocab_version=1,
        merges=merges or (GOOD,),
    )


def test_a_good_proposal_has_no_problems() -> None:
    assert validate_proposal(proposal()) == ()


@pytest.mark.parametrize(
    ("candidate", "problem"),
    [
        (proposal(stake=99.99), "stake 99.99 NEURO < the minimum 100.0"),
        (proposal(MergeCandidate(b"a", b"b", 1000)), "frequency 1000 is not above 1000"),
        (proposal(MergeCandidate(b"pass", b"word", 10**6)), "sensitive pattern(s) ['password']"),
        (proposal(MergeCandidate(b"SEC", b"RET", 10**6)), "['secret']"),
        (proposal(MergeCandidate(b"mon", b"key", 10**6)), "['key']"),
        (proposal(MergeCandidate(b"to", b"kens", 10**6)), "['token']"),
        (proposal(MergeCandidate(b"", b"x", 10**6)), "non-empty"),
        (proposal(GOOD, MergeCandidate(b"t", b"he", 2000)), "proposed twice"),
    ],
)
def test_invalid_proposals_say_why(candidate: VocabProposal, problem: str) -> None:
    problems = validate_proposal(candidate)
    assert any(problem in p for p in problems), problems


def test_frequency_1001_and_stake_100_are_enough() -> None:
    assert validate_proposal(proposal(MergeCandidate(b"a", b"b", 1001), stake=100.0)) == ()


def test_token_count_limit_is_1000() -> None:
    merges = tuple(MergeCandidate(b"x", i.to_bytes(2, "big") + b"z", 2000) for i in range(1001))
    assert validate_proposal(proposal(*merges[:1000])) == ()
    assert "1001 new tokens > the maximum 1000" in validate_proposal(proposal(*merges))


def test_existing_tokens_and_empty_proposals() -> None:
    assert any(
        "already in the vocabulary" in p
        for p in validate_proposal(proposal(), existing_tokens=frozenset({b"the"}))
    )
    empty = VocabProposal(ProposalId("p"), NodeId("a"), 100.0, 1, ())
    assert validate_proposal(empty) == ("a proposal needs at least one merge",)


def test_all_problems_are_reported_at_once() -> None:
    assert len(validate_proposal(proposal(MergeCandidate(b"key", b"", 5), stake=1.0))) == 4


def vote(voter: str, choice: VoteChoice, stake: float, at_s: float = 1.0) -> Vote:
    return Vote(NodeId(voter), choice, stake, at_s)


APPROVE, REJECT, ABSTAIN = VoteChoice.APPROVE, VoteChoice.REJECT, VoteChoice.ABSTAIN


@pytest.mark.parametrize(
    ("votes", "valid", "passed"),
    [
        # 30 % turnout exactly, all approving: valid and passed
        ([("a", APPROVE, 30.0)], True, True),
        ([("a", APPROVE, 29.99)], False, False),
        # 66 % of the decided stake exactly passes; just under fails
        ([("a", APPROVE, 66.0), ("b", REJECT, 34.0)], True, True),
        ([("a", APPROVE, 65.99), ("b", REJECT, 34.01)], True, False),
        # abstain counts for turnout only
        ([("a", APPROVE, 10.0), ("b", ABSTAIN, 25.0)], True, True),
        ([("a", ABSTAIN, 40.0)], True, False),
        ([], False, False),
    ],
)
def test_tally_turnout_30_percent_and_approval_66_percent(votes: list, valid: bool, passed: bool) -> None:
    result = tally_votes([vote(*v) for v in votes], total_stake=100.0)
    assert (result.valid, result.passed) == (valid, passed)


def test_tally_reports_the_sums() -> None:
    result = tally_votes([vote("a", APPROVE, 40.0), vote("b", REJECT, 10.0), vote("c", ABSTAIN, 10.0)], 200.0)
    assert (result.approve_stake, result.reject_stake, result.abstain_stake) == (40.0, 10.0, 10.0)
    assert result.turnout == pytest.approx(0.3) and result.approval == pytest.approx(0.8)


def test_binary_fractions_do_not_flip_a_boundary() -> None:
    """1.65 of 2.50 decided is exactly 66 %, but 1.65 < 0.66 × 2.5 in binary floating point."""
    assert 1.65 < 0.66 * (1.65 + 0.85)  # the trap the tolerance avoids
    votes = [vote("a", APPROVE, 1.65), vote("b", REJECT, 0.85)]
    assert tally_votes(votes, total_stake=2.5).passed


def test_votes_are_final_whatever_the_arrival_order() -> None:
    first, second = vote("a", APPROVE, 50.0, at_s=1.0), vote("a", REJECT, 50.0, at_s=2.0)
    assert final_votes([second, first]) == final_votes([first, second]) == (first,)
    assert tally_votes([second, first, vote("b", REJECT, 10.0)], 100.0).approve_stake == 50.0


def test_tally_refuses_nonsense() -> None:
    with pytest.raises(ProtocolError, match="total_stake"):
        tally_votes([], total_stake=0.0)
    with pytest.raises(ProtocolError, match="negative stake"):
        tally_votes([vote("a", APPROVE, -1.0)], total_stake=10.0)
