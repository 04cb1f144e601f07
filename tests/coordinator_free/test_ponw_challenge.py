"""The PoNW challenge state machine, and its settlement folded through the real ledger."""

from __future__ import annotations

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.ledger import fold
from coordinator_free.ledger_events import Reward, Stake, to_nano
from coordinator_free.ponw import Verdict
from coordinator_free.ponw_challenge import (
    ChallengeAnswered,
    ChallengeOpened,
    ChallengePhase,
    VerdictPosted,
    apply_challenge_answered,
    apply_challenge_opened,
    apply_clock,
    apply_verdict_posted,
    challenge_stake_lock,
    settlement_events,
    submit_proof,
)
from coordinator_free.types import NodeId

PROVER, CHALLENGER, OTHER, ISSUER = (NodeId(c * 64) for c in "abcf")
STAKE = to_nano(10.0)
PROVER_STAKE = to_nano(20.0)
PASSED = Verdict(True, "all within tolerance", 10, 0, 1e-6, 1e-6)
FAILED = Verdict(False, "output: 10 of 10 values differ", 10, 10, 3.0, 1.0)


def submitted():
    return submit_proof("proof-1", PROVER, submitted_at_s=1000.0)


def challenged(at_s=1300.0, prover_stake=PROVER_STAKE):
    return apply_challenge_opened(
        submitted(), ChallengeOpened(CHALLENGER, STAKE, prover_stake, at_s)
    )


def answered(at_s=1400.0):
    return apply_challenge_answered(challenged(), ChallengeAnswered(at_s))


# ----------------------------------------------------------- transitions


def test_unchallenged_proof_is_accepted_when_the_ten_minute_window_ends():
    assert apply_clock(submitted(), 1599.999).phase is ChallengePhase.IN_WINDOW
    accepted = apply_clock(submitted(), 1600.0)
    assert accepted.phase is ChallengePhase.ACCEPTED and accepted.closed_at_s == 1600.0


def test_challenge_must_come_inside_the_window_from_someone_else_with_the_stake():
    assert challenged(at_s=1599.0).phase is ChallengePhase.CHALLENGED
    with pytest.raises(ProtocolError, match="it is accepted"):
        challenged(at_s=1600.0)
    with pytest.raises(ProtocolError, match="its own proof"):
        apply_challenge_opened(submitted(), ChallengeOpened(PROVER, STAKE, 0, 1100.0))
    with pytest.raises(ProtocolError, match="stakes exactly 10000000000"):
        apply_challenge_opened(
            submitted(), ChallengeOpened(CHALLENGER, STAKE - 1, 0, 1100.0)
        )
    with pytest.raises(ProtocolError, match="predates"):
        challenged(at_s=999.0)
    with pytest.raises(ProtocolError, match="it is challenged"):
        apply_challenge_opened(challenged(), ChallengeOpened(OTHER, STAKE, 0, 1310.0))


def test_prover_has_five_minutes_to_answer():
    assert answered(at_s=1599.9).phase is ChallengePhase.ANSWERED
    with pytest.raises(ProtocolError, match="it is unanswered"):
        answered(at_s=1600.0)
    silent = apply_clock(challenged(), 1600.0)
    assert silent.phase is ChallengePhase.UNANSWERED and silent.closed_at_s == 1600.0


def test_the_challengers_verdict_decides():
    upheld = apply_verdict_posted(answered(), VerdictPosted(CHALLENGER, PASSED, 1500.0))
    assert upheld.phase is ChallengePhase.UPHELD and upheld.verdict == PASSED
    fraud = apply_verdict_posted(answered(), VerdictPosted(CHALLENGER, FAILED, 1500.0))
    assert fraud.phase is ChallengePhase.FRAUD and fraud.verdict.reason.startswith(
        "output"
    )
    with pytest.raises(ProtocolError, match="only the challenger"):
        apply_verdict_posted(answered(), VerdictPosted(OTHER, FAILED, 1500.0))


def test_a_challenger_that_never_rules_loses_as_if_the_proof_were_valid():
    assert apply_clock(answered(), 1699.0).phase is ChallengePhase.ANSWERED
    assert apply_clock(answered(), 1700.0).phase is ChallengePhase.UPHELD
    with pytest.raises(ProtocolError, match="it is upheld"):
        apply_verdict_posted(answered(), VerdictPosted(CHALLENGER, FAILED, 1700.0))


def test_only_a_closed_proof_is_settled():
    with pytest.raises(ProtocolError, match="still challenged"):
        settlement_events(challenged(), issuer=ISSUER, reward_nano=1)


# ------------------------------------------------------------ settlement

REWARD = to_nano(0.002)


def ledger_after(closed):
    opening = [
        Reward(ISSUER, 0.0, PROVER, to_nano(30.0), "pipeline"),
        Stake(PROVER, 1.0, PROVER, to_nano(20.0)),
        Reward(ISSUER, 0.0, CHALLENGER, to_nano(50.0), "uptime"),
    ]
    if closed.challenger is not None:
        opening.append(challenge_stake_lock(closed))
    state = fold(
        opening + list(settlement_events(closed, issuer=ISSUER, reward_nano=REWARD))
    )
    assert not state.rejected, state.rejected
    return state


def test_accepted_proof_pays_its_reward():
    state = ledger_after(apply_clock(submitted(), 1600.0))
    assert state.balance(PROVER) == to_nano(10.0) + REWARD
    assert state.balance(CHALLENGER) == to_nano(50.0)
    assert state.accepted_proofs == frozenset({"proof-1"})


def test_upheld_proof_pays_the_reward_and_half_the_challengers_stake():
    state = ledger_after(
        apply_verdict_posted(answered(), VerdictPosted(CHALLENGER, PASSED, 1500.0))
    )
    assert state.balance(PROVER) == to_nano(10.0) + REWARD + to_nano(5.0)
    assert state.balance(CHALLENGER) == to_nano(45.0)
    assert state.escrows["challenge:proof-1"].remaining_nano == 0


@pytest.mark.parametrize("outcome", ["fraud", "unanswered"])
def test_fraud_or_silence_costs_the_prover_twice_its_stake_paid_to_the_challenger(
    outcome,
):
    if outcome == "fraud":
        closed = apply_verdict_posted(
            answered(), VerdictPosted(CHALLENGER, FAILED, 1500.0)
        )
    else:
        closed = apply_clock(challenged(), 1600.0)
    state = ledger_after(closed)
    assert (
        state.stake(PROVER) == 0 and state.balance(PROVER) == 0
    )  # its 20 staked and 10 spendable, all taken
    assert state.slashed_nano[PROVER] == to_nano(
        30.0
    )  # 2 × 20 asked, 30 was all it had
    assert state.balance(CHALLENGER) == to_nano(50.0) + to_nano(30.0)
    assert not state.accepted_proofs
