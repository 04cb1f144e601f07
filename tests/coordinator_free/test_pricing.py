"""Inference price per token, escrow and the 15 / 20 / 5 % split (§12)."""

from __future__ import annotations

import math

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.pricing import (
    demand_factor,
    lock_escrow,
    price_per_token,
    reputation_factor,
    settle_escrow,
    speed_factor,
    split_payment,
)
from coordinator_free.tiers import Tier
from coordinator_free.types import NodeId


@pytest.mark.parametrize(("utilisation", "factor"), [(0.0, 1.0), (0.5, 1.25), (1.0, 2.0)])
def test_demand_is_one_plus_utilisation_squared(utilisation: float, factor: float) -> None:
    assert demand_factor(utilisation) == factor


@pytest.mark.parametrize(("tier", "factor"), [(Tier.T1, 1.5), (Tier.T2, 1.3), (Tier.T3, 1.0), (Tier.T4, 0.8)])
def test_speed_factor_by_tier(tier: Tier, factor: float) -> None:
    assert speed_factor(tier) == factor


def test_t5_has_no_price() -> None:
    with pytest.raises(ProtocolError, match="T5"):
        speed_factor(Tier.T5)


@pytest.mark.parametrize(("reputation", "factor"), [(0.0, 0.8), (0.5, 1.0), (1.0, 1.2)])
def test_reputation_factor(reputation: float, factor: float) -> None:
    assert reputation_factor(reputation) == pytest.approx(factor)


@pytest.mark.parametrize(
    ("utilisation", "tier", "reputation", "price"),
    [
        (0.0, Tier.T3, 0.5, 0.0001),
        (1.0, Tier.T1, 1.0, 0.0001 * 2.0 * 1.5 * 1.2),  # the most: 0.00036
        (0.5, Tier.T2, 0.25, 0.0001 * 1.25 * 1.3 * 0.9),
        (0.0, Tier.T4, 0.0, 0.0001 * 0.8 * 0.8),  # 0.000064, above the floor
    ],
)
def test_price_per_token(utilisation: float, tier: Tier, reputation: float, price: float) -> None:
    assert price_per_token(utilisation=utilisation, tier=tier, reputation=reputation) == pytest.approx(price)


def test_the_lowest_possible_price_stays_above_the_floor_constant() -> None:
    """With DESIGN's factors the product never goes below 0.000064; the floor is a guard."""
    assert price_per_token(utilisation=0.0, tier=Tier.T4, reputation=0.0) >= 0.00005


@pytest.mark.parametrize(
    ("name", "kwargs"), [("utilisation", {"utilisation": 1.1}), ("reputation", {"reputation": -0.1})]
)
def test_out_of_range_inputs_are_refused(name: str, kwargs: dict) -> None:
    values = {"utilisation": 0.5, "tier": Tier.T2, "reputation": 0.5, **kwargs}
    with pytest.raises(ProtocolError, match=name):
        price_per_token(**values)


def test_escrow_locks_max_tokens_times_price_and_refunds_the_undelivered() -> None:
    escrow = lock_escrow(200, 0.0001)
    assert escrow.locked == pytest.approx(0.02)
    settled = settle_escrow(escrow, 150)
    assert settled.paid == pytest.approx(0.015) and settled.refund == pytest.approx(0.005)
    assert settled.paid + settled.refund == pytest.approx(escrow.locked, rel=1e-15)
    assert settle_escrow(escrow, 0).refund == escrow.locked


@pytest.mark.parametrize(
    ("max_tokens", "price", "delivered"), [(0, 0.1, 0), (10, 0.0, 0), (10, 0.1, 11), (10, 0.1, -1)]
)
def test_escrow_refuses_impossible_amounts(max_tokens: int, price: float, delivered: int) -> None:
    with pytest.raises(ProtocolError):
        settle_escrow(lock_escrow(max_tokens, price), delivered)


I, P1, P2, F = NodeId("init"), NodeId("proc1"), NodeId("proc2"), NodeId("fin")


def test_split_15_20_5_and_processors_by_layers() -> None:
    split = split_payment(100.0, [(I, 2), (P1, 3), (P2, 1), (F, 5)])
    shares = dict(split.shares)
    assert split.burn == pytest.approx(5.0)
    assert shares[I] == pytest.approx(15.0) and shares[F] == pytest.approx(20.0)
    assert shares[P1] == pytest.approx(45.0) and shares[P2] == pytest.approx(15.0)
    assert [node for node, _ in split.shares] == [I, P1, P2, F]


def test_two_members_share_the_processor_pool_by_layers() -> None:
    shares = dict(split_payment(100.0, [(I, 3), (F, 1)]).shares)
    assert shares[I] == pytest.approx(15.0 + 45.0) and shares[F] == pytest.approx(20.0 + 15.0)


def test_one_member_gets_all_but_the_burn() -> None:
    split = split_payment(100.0, [(I, 11)])
    assert split.shares == ((I, 95.0),) and split.burn == 5.0


@pytest.mark.parametrize("paid", [0.0137, 1e-6, 12345.678])
def test_the_split_adds_up_to_the_payment(paid: float) -> None:
    split = split_payment(paid, [(I, 1), (P1, 3), (P2, 7), (F, 2)])
    total = math.fsum([*(amount for _, amount in split.shares), split.burn])
    assert abs(total - paid) <= math.ulp(paid)


@pytest.mark.parametrize(
    ("paid", "stages", "message"),
    [
        (-1.0, [(I, 1)], "paid"),
        (1.0, [], "at least one member"),
        (1.0, [(I, 0), (F, 1)], ">= 1 layer"),
        (1.0, [(I, 1), (I, 1)], "twice"),
    ],
)
def test_split_refuses_bad_input(paid: float, stages: list, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        split_payment(paid, stages)
