"""Inference clients: priced, escrowed, served and paid by the pricing rules.

Each step, Poisson(requests_per_node_h × n × step) requests arrive. A client
compares `quorum_choices` random live quorums at `pricing.price_per_token`
(their utilisation last step, tier, members' mean reputation) and takes the
cheapest. All of one quorum's requests in a step are priced alike, and
escrow, settlement and the split are linear in tokens, so they are settled
together: `lock_escrow` on the summed tokens, `settle_escrow` on what was
delivered (nothing if the quorum stopped training during the step: the
client cancels and is refunded, DESIGN §12), `split_payment` over the
members' stages. A quorum that delivered gains reputation (+0.01 per step,
to 1), one that stalled loses it (−0.1, to 0).

A quorum's capacity: one token per sequence per pipeline tick of its
bottleneck stage, for the reference batch's 8 sequences (forward only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.constants import REFERENCE_BATCH_SEQUENCES
from coordinator_free.pricing import (
    lock_escrow,
    price_per_token,
    settle_escrow,
    split_payment,
)
from coordinator_free.tiers import Tier

if TYPE_CHECKING:
    from .world import World

_REPUTATION_GAIN = 0.01
_REPUTATION_LOSS = 0.1


def serve_inference(world: World, dt: float) -> None:
    config = world.scenario.inference
    live = world.book.live_slots()
    if live.size == 0 or config.requests_per_node_h <= 0:
        return
    requests = int(
        world.rng.poisson(config.requests_per_node_h * world.network_size * dt / 3600.0)
    )
    if requests == 0:
        return
    prices: dict[int, float] = {}
    tokens: dict[int, int] = {}
    picks = world.rng.integers(
        0, live.size, size=(requests, min(config.quorum_choices, live.size))
    )
    live_slots = live.tolist()  # Python ints: the loop reads no numpy scalar
    for choices in picks.tolist():
        slots = [live_slots[i] for i in choices]
        for slot in slots:
            if slot not in prices:
                prices[slot] = _price(world, slot)
        best = min(slots, key=lambda s: (prices[s], s))
        tokens[best] = tokens.get(best, 0) + config.max_tokens
    world.tallies.inference_requests += requests
    for slot in sorted(tokens):
        _settle(world, slot, tokens[slot], prices[slot], dt)


def _price(world: World, slot: int) -> float:
    members = world.book.records[slot].members
    reputation = float(np.mean(world.table.reputation[members]))
    utilisation = float(world.book.utilisation[slot])
    return price_per_token(
        utilisation=min(1.0, utilisation),
        tier=Tier(int(world.book.tier[slot])),
        reputation=reputation,
    )


def _settle(world: World, slot: int, tokens: int, price: float, dt: float) -> None:
    book, table, economy, tallies = (
        world.book,
        world.table,
        world.economy,
        world.tallies,
    )
    record = book.records[slot]
    escrow = lock_escrow(tokens, price)
    capacity = (
        book.rate[slot]
        * world.scenario.model.train_cost_factor
        * REFERENCE_BATCH_SEQUENCES
        * dt
    )
    delivered = min(tokens, int(capacity)) if book.training[slot] else 0
    settlement = settle_escrow(escrow, delivered)
    book.utilisation[slot] = delivered / capacity if capacity > 0 else 1.0
    members = record.members
    change = _REPUTATION_GAIN if delivered else -_REPUTATION_LOSS
    world.table.reputation[members] = np.clip(
        world.table.reputation[members] + change, 0.0, 1.0
    )
    tallies.inference_tokens += delivered
    tallies.inference_refunded += settlement.refund
    economy.period_refunded += settlement.refund
    if settlement.paid <= 0:
        return
    stages = [
        (table.node_id(row), len(m.member.stage))
        for row, m in zip(members, record.state.members, strict=True)
    ]
    split = split_payment(settlement.paid, stages)
    for (_, amount), row in zip(split.shares, members, strict=True):
        economy.inference_period[row] += amount
        economy.earned["inference"][row] += amount
    economy.period_burned += split.burn
    tallies.inference_paid += settlement.paid
    tallies.inference_burned += split.burn
