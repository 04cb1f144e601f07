"""Ledger: events as records, and the fold's rules and properties."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator_free.errors import ProtocolError
from coordinator_free.ledger import LedgerState, apply_event, canonical_order, fold
from coordinator_free.ledger_events import (
    EscrowLock,
    EscrowRefund,
    EscrowRelease,
    ProofAccepted,
    Reward,
    Slash,
    Stake,
    Transfer,
    Unstake,
    decode_event,
    event_bytes,
    event_id,
    to_nano,
    to_neuro,
)
from coordinator_free.types import NodeId

A, B, C = NodeId("a" * 64), NodeId("b" * 64), NodeId("c" * 64)
ISSUER = NodeId("f" * 64)


def reward(node, amount, t=0.0):
    return Reward(ISSUER, t, node, amount, "pipeline")


# ------------------------------------------------------------------ records


def test_amounts_convert_exactly_to_nano():
    assert to_nano(0.0005) == 500_000
    assert to_nano(0.00001) == 10_000
    assert to_nano(10.0) == 10_000_000_000
    assert to_neuro(to_nano(1.25)) == 1.25
    with pytest.raises(ProtocolError):
        to_nano(float("nan"))


def test_event_id_is_sha256_of_canonical_bytes_and_round_trips():
    event = EscrowRelease(A, 12.5, "inference:1", ((B, 150), (C, 200)), 50)
    data = event_bytes(event)
    assert event_id(event) == hashlib.sha256(data).hexdigest()
    assert decode_event(data) == event
    assert data.startswith(
        b'{"fields":{"burn_nano":50,"escrow_id":"inference:1","issuer":"aaaa'
    )


def test_an_integer_timestamp_gives_the_same_id_as_its_float():
    assert event_id(reward(A, 5, t=7)) == event_id(reward(A, 5, t=7.0))


def test_non_canonical_bytes_are_refused():
    data = event_bytes(reward(A, 5))
    with pytest.raises(ProtocolError, match="canonical"):
        decode_event(data.replace(b":", b": ", 1))
    with pytest.raises(ProtocolError, match="not one of"):
        decode_event(data.replace(b"ledger.reward", b"ledger.mint"))
    with pytest.raises(ProtocolError, match="not a canonical record"):
        decode_event(b"\xff")


@pytest.mark.parametrize(
    "build",
    [
        lambda: Reward(ISSUER, 0.0, A, 0, "x"),
        lambda: Reward(ISSUER, 0.0, A, -5, "x"),
        lambda: Reward(ISSUER, 0.0, A, 1.5, "x"),
        lambda: Reward(ISSUER, float("inf"), A, 1, "x"),
        lambda: Reward(NodeId(""), 0.0, A, 1, "x"),
        lambda: Transfer(A, 0.0, A, A, 1),
        lambda: EscrowLock(A, 0.0, "", A, 1),
        lambda: EscrowRelease(A, 0.0, "e", (), 0),
        lambda: EscrowRelease(A, 0.0, "e", ((B, 1),), -1),
    ],
)
def test_malformed_events_cannot_be_built(build):
    with pytest.raises(ProtocolError):
        build()


# -------------------------------------------------------------------- rules


def test_rewards_stakes_and_transfers():
    state = fold(
        [
            reward(A, 1000, t=1),
            Stake(A, 2.0, A, 300),
            Transfer(A, 3.0, A, B, 200),
            Unstake(A, 4.0, A, 100),
        ]
    )
    assert state.balances == {A: 600, B: 200}
    assert state.stakes == {A: 200}
    assert state.minted_nano == 1000 and not state.rejected


def test_overdrafts_are_rejected_whole_and_reported():
    events = [
        reward(A, 100, t=1),
        Transfer(A, 2.0, A, B, 150),
        Stake(A, 3.0, A, 101),
        Unstake(A, 4.0, A, 1),
    ]
    state = fold(events)
    assert state.balances == {A: 100}
    assert [r.kind for r in state.rejected] == [
        "ledger.transfer",
        "ledger.stake",
        "ledger.unstake",
    ]
    assert "holds 100 nano-NEURO but 150 are needed" in state.rejected[0].reason


def test_only_the_owner_may_spend():
    state = fold(
        [reward(A, 100, t=1), Transfer(B, 2.0, A, B, 50), Stake(B, 3.0, A, 50)]
    )
    assert state.balances == {A: 100}
    assert all("only" in r.reason for r in state.rejected)


def test_slash_takes_stake_then_balance_capped_and_pays_the_beneficiary():
    state = fold(
        [
            reward(A, 100, t=1),
            Stake(A, 2.0, A, 40),
            Slash(ISSUER, 3.0, A, 80, B, "fraud"),  # 40 from stake + 40 from balance
            Slash(ISSUER, 4.0, A, 1000, None, "fraud"),  # only 20 left: capped, burned
        ]
    )
    assert state.balance(A) == 0 and state.stake(A) == 0
    assert state.balances == {B: 80}
    assert state.slashed_nano == {A: 100}
    assert state.burned_nano == 20 and not state.rejected


def test_escrow_lock_release_refund():
    state = fold(
        [
            reward(A, 1000, t=1),
            EscrowLock(A, 2.0, "inference:7", A, 600),
            EscrowRelease(ISSUER, 3.0, "inference:7", ((B, 150), (C, 200)), 25),
            EscrowRefund(ISSUER, 4.0, "inference:7", 225),
            EscrowRefund(ISSUER, 5.0, "inference:7", 1),  # empty now
            EscrowLock(A, 6.0, "inference:7", A, 10),  # ids are used once
            EscrowRefund(ISSUER, 7.0, "inference:8", 1),  # never locked
        ]
    )
    assert state.balances == {A: 625, B: 150, C: 200}
    assert state.escrows["inference:7"].remaining_nano == 0
    assert state.burned_nano == 25
    assert len(state.rejected) == 3


def test_a_proof_is_paid_once():
    state = fold(
        [ProofAccepted(ISSUER, 1.0, A, "p1", 50), ProofAccepted(B, 2.0, A, "p1", 70)]
    )
    assert state.balances == {A: 50} and state.accepted_proofs == frozenset({"p1"})
    assert "already accepted" in state.rejected[0].reason


def test_canonical_order_is_time_then_id():
    late, early_a, early_b = reward(A, 1, t=5), reward(A, 2, t=1), reward(B, 3, t=1)
    ordered = [event for _, event in canonical_order([late, early_b, early_a])]
    assert ordered[-1] == late
    assert {ordered[0], ordered[1]} == {early_a, early_b}
    assert event_id(ordered[0]) < event_id(ordered[1])


def test_apply_event_is_pure_and_skips_duplicates():
    empty = LedgerState()
    once = apply_event(empty, reward(A, 5))
    assert empty.balances == {} and once.balances == {A: 5}
    assert apply_event(once, reward(A, 5)) == once


def test_continuing_a_fold_equals_folding_everything_when_new_events_come_later():
    first = [reward(A, 100, t=1), Stake(A, 2.0, A, 30)]
    later = [Transfer(A, 3.0, A, B, 50), Unstake(A, 4.0, A, 30)]
    assert fold(later, start=fold(first)) == fold(first + later)


# -------------------------------------------------------------- properties

nodes = st.sampled_from([A, B, C])
amounts = st.integers(1, 400)
times = st.integers(0, 6).map(float)
escrow_ids = st.sampled_from(["e1", "e2"])
ledger_events = st.one_of(
    st.builds(lambda n, a, t: reward(n, a, t), nodes, amounts, times),
    st.builds(lambda i, n, a, t: Stake(i, t, n, a), nodes, nodes, amounts, times),
    st.builds(lambda n, a, t: Unstake(n, t, n, a), nodes, amounts, times),
    st.builds(
        lambda i, n, r, a, t: Transfer(i, t, n, r, a) if n != r else reward(n, a, t),
        nodes,
        nodes,
        nodes,
        amounts,
        times,
    ),
    st.builds(
        lambda n, a, b, t: Slash(ISSUER, t, n, a, b, "x"),
        nodes,
        amounts,
        st.one_of(st.none(), nodes),
        times,
    ),
    st.builds(
        lambda e, n, a, t: EscrowLock(n, t, e, n, a), escrow_ids, nodes, amounts, times
    ),
    st.builds(
        lambda e, n, a, b, t: EscrowRelease(ISSUER, t, e, ((n, a),), b),
        escrow_ids,
        nodes,
        amounts,
        st.integers(0, 50),
        times,
    ),
    st.builds(
        lambda e, a, t: EscrowRefund(ISSUER, t, e, a), escrow_ids, amounts, times
    ),
    st.builds(
        lambda n, p, a, t: ProofAccepted(ISSUER, t, n, p, a),
        nodes,
        st.sampled_from(["p1", "p2"]),
        amounts,
        times,
    ),
)
event_lists = st.lists(ledger_events, max_size=40)


@settings(max_examples=150, deadline=None)
@given(events=event_lists, shuffle_seed=st.integers(0, 2**32 - 1))
def test_fold_is_order_independent(events, shuffle_seed):
    shuffled = list(events)
    random.Random(shuffle_seed).shuffle(shuffled)
    assert fold(shuffled) == fold(events)


@settings(max_examples=150, deadline=None)
@given(events=event_lists, repeats=st.lists(st.integers(0, 39), max_size=20))
def test_fold_is_idempotent_under_duplicates(events, repeats):
    duplicated = events + [events[i] for i in repeats if i < len(events)]
    assert fold(duplicated) == fold(events)
    assert fold(events, start=fold(events)) == fold(events)


@settings(max_examples=150, deadline=None)
@given(events=event_lists)
def test_nothing_goes_negative_and_money_is_conserved(events):
    state = fold(events)
    assert all(v > 0 for v in state.balances.values())
    assert all(v > 0 for v in state.stakes.values())
    assert all(e.remaining_nano >= 0 for e in state.escrows.values())
    held = (
        sum(state.balances.values())
        + sum(state.stakes.values())
        + sum(e.remaining_nano for e in state.escrows.values())
    )
    assert held == state.minted_nano - state.burned_nano
    assert len(state.seen_event_ids) == len({event_id(e) for e in events})
