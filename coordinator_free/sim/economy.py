"""Money in the simulator: rewards by the reward rule, balances by the ledger fold.

- Each step every admitted online node earns `rewards.period_rewards` for
  what it did in the step (batches, uptime, samples served), with per-layer
  weights from `rewards.layer_weights` (scarcity, and warm-up factors during
  an upgrade). The array form is the rule's own (checked row by row against
  `period_reward` in the tests).
- Earnings accrue in NEURO and become ledger events (`Reward`) once per
  `ledger_period_h`; the ledger (`ledger.fold`) is the only place balances,
  stakes and slashes are decided. A slash is folded at once, with the
  offender's accrued rewards flushed just before it, so the cap rule (stake
  first, then balance) sees what the node really had.
- NEURO enters from outside the network in two places, each a `Reward` from
  the outside-world account: the starting stake an honest node buys before
  it joins (then staked by a `Stake` event it issues), and what inference
  clients buy before they lock escrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.claims import scarcity_scores
from coordinator_free.constants import (
    FRAUD_SLASH_STAKE_MULTIPLE,
    NANO_PER_NEURO,
    REFERENCE_BATCH_SEQUENCES,
)
from coordinator_free.growth_upgrade import UpgradePhase, layer_learning_rate_factor
from coordinator_free.ledger import LedgerState, fold
from coordinator_free.ledger_events import (
    EscrowLock,
    EscrowRefund,
    EscrowRelease,
    Reward,
    Slash,
    Stake,
    to_nano,
)
from coordinator_free.network_view import LayerRange, Mode
from coordinator_free.rewards import (
    WorkPeriods,
    layer_weight_sums,
    layer_weights,
    period_rewards,
)
from coordinator_free.scale import target_replicas_per_layer
from coordinator_free.types import NodeId

from .nodes import MODE_INDEX

if TYPE_CHECKING:
    from .world import World

OUTSIDE = NodeId("outside-world")  # where bought NEURO comes from
REWARDS = NodeId("reward-rule")  # issuer of rewards the rules decided
CLIENTS = NodeId("inference-clients")
CATEGORIES = ("pipeline", "async_training", "uptime", "data", "inference")
_AFTER_S = 1e-3  # an event that must fold after another stamped at the same moment


class Economy:
    def __init__(self) -> None:
        self.ledger = LedgerState()
        self.pending: list = []  # events not yet folded
        self.accrued = np.zeros(0)  # NEURO earned, not yet a ledger event, per row
        self.earned = {
            name: np.zeros(0) for name in CATEGORIES
        }  # NEURO, whole run, per row
        self.endowed = np.zeros(0)  # NEURO bought from outside, per row
        self.inference_period = np.zeros(
            0
        )  # inference NEURO this ledger period, per row
        self.period_locked = self.period_burned = self.period_refunded = 0.0
        self.periods = 0

    def reserve(self, rows: int) -> None:
        if rows <= self.accrued.size:
            return
        size = max(rows, 2 * self.accrued.size)
        self.accrued = _grown(self.accrued, size)
        self.endowed = _grown(self.endowed, size)
        self.inference_period = _grown(self.inference_period, size)
        self.earned = {
            name: _grown(values, size) for name, values in self.earned.items()
        }


def _grown(values: np.ndarray, size: int) -> np.ndarray:
    grown = np.zeros(size)
    grown[: values.size] = values
    return grown


def endow(world: World, row: int, neuro: float) -> None:
    """A joining node buys `neuro` outside and stakes it (two ledger events, folded later)."""
    if neuro <= 0:
        return
    economy, node_id, now_s = world.economy, world.table.node_id(row), world.now_s
    amount = to_nano(neuro)
    economy.pending.append(
        Reward(OUTSIDE, now_s, node_id, amount, "bought before joining")
    )
    # Just after: the fold orders equal timestamps by event id, which could put the stake first.
    economy.pending.append(Stake(node_id, now_s + _AFTER_S, node_id, amount))
    economy.endowed[row] += neuro
    world.table.stake[row] = neuro
    world.table.touch(row)


def serve_data(world: World) -> None:
    """DATA nodes share the step's sample demand: every batch trained needs its sequences served."""
    table, count = world.table, world.table.count
    batches = float(
        world.book.step_batches[world.book.training].sum()
        + table.own_batches[:count].sum()
    )
    serving = (
        table.online[:count]
        & table.admitted[:count]
        & (table.mode[:count] == MODE_INDEX[Mode.DATA])
    )
    table.served_samples[:count] = 0.0
    servers = int(serving.sum())
    if servers:
        table.served_samples[:count][serving] = (
            batches * REFERENCE_BATCH_SEQUENCES / servers
        )


def layer_reward_weights(world: World) -> np.ndarray:
    """Per-layer reward weight of the active model: (1 + scarcity) × warm-up factor."""
    depth, holders = world.depth, world.table.holders[: world.depth]
    scarcity = scarcity_scores(holders, target_replicas_per_layer(world.network_size))
    factors = None
    upgrade = world.upgrade
    if (
        upgrade is not None
        and upgrade.phase is UpgradePhase.WARMUP
        and upgrade.new_depth == depth
    ):
        step = int(world.model_step)
        factors = [
            layer_learning_rate_factor(upgrade, layer, step) for layer in range(depth)
        ]
    return np.asarray(layer_weights(LayerRange(0, depth), scarcity, factors))


def accrue_rewards(world: World, dt: float) -> None:
    """Every admitted online node's reward for the step that just ended."""
    table, book, count = world.table, world.book, world.table.count
    rows = np.flatnonzero(table.online[:count] & table.admitted[:count])
    slots = table.quorum[rows]
    in_training = (slots >= 0) & book.training[np.maximum(slots, 0)]
    starts = np.where(
        in_training, table.stage_start[rows], np.minimum(table.start[rows], world.depth)
    )
    stops = np.where(
        in_training, table.stage_stop[rows], np.minimum(table.stop[rows], world.depth)
    )
    stops = np.maximum(stops, starts)
    solo = table.mode[rows] == MODE_INDEX[Mode.SOLO]
    asynchronous = table.mode[rows] == MODE_INDEX[Mode.ASYNC]
    pipeline_batches = np.where(
        in_training, book.step_batches[np.maximum(slots, 0)], 0.0
    )
    work = WorkPeriods(
        layer_count=world.depth,
        starts=starts,
        stops=stops,
        pipeline_batches=pipeline_batches
        + np.where(solo, table.own_batches[rows], 0.0),
        async_batches=np.where(asynchronous, table.own_batches[rows], 0.0),
        async_age_s=np.maximum(world.now_s - table.theta_start_s[rows], 0.0),
        uptime_s=np.clip(world.now_s - table.joined_s[rows], 0.0, dt),
        samples_served=table.served_samples[rows],
    )
    paid = period_rewards(
        work, layer_weight_sums(starts, stops, layer_reward_weights(world))
    )
    economy = world.economy
    economy.accrued[rows] += paid.total
    for name in CATEGORIES[
        :4
    ]:  # the bonus multiplies every part, so the parts sum to the total
        economy.earned[name][rows] += getattr(paid, name) * (1.0 + paid.bonus)


def _reward_events(world: World, rows: np.ndarray, at_s: float) -> list:
    economy, events = world.economy, []
    for row in rows:
        amount = to_nano(float(economy.accrued[row]))
        if amount > 0:
            events.append(
                Reward(REWARDS, at_s, world.table.node_id(int(row)), amount, "work")
            )
    economy.accrued[rows] = 0.0
    return events


def _inference_events(world: World, at_s: float) -> list:
    """One escrow per ledger period for the clients' requests (linear: the sum of theirs)."""
    economy = world.economy
    rows = np.flatnonzero(economy.inference_period)
    payments = tuple(
        (world.table.node_id(int(row)), to_nano(float(economy.inference_period[row])))
        for row in rows
    )
    payments = tuple((node, amount) for node, amount in payments if amount > 0)
    burn, refund = to_nano(economy.period_burned), to_nano(economy.period_refunded)
    locked = sum(amount for _, amount in payments) + burn + refund
    economy.inference_period[:] = 0.0
    economy.period_burned = economy.period_refunded = 0.0
    if locked <= 0:
        return []
    escrow_id = f"inference:period-{economy.periods}"
    events = [
        Reward(OUTSIDE, at_s, CLIENTS, locked, "clients buy NEURO"),
        EscrowLock(CLIENTS, at_s, escrow_id, CLIENTS, locked),
    ]
    if payments or burn:
        events.append(EscrowRelease(REWARDS, at_s, escrow_id, payments, burn))
    if refund:
        events.append(EscrowRefund(REWARDS, at_s, escrow_id, refund))
    return events


def flush_ledger(world: World) -> None:
    """Turn every accrued reward and the period's inference escrow into events, and fold."""
    economy, now_s = world.economy, world.now_s
    rows = np.flatnonzero(economy.accrued[: world.table.count] > 0)
    economy.pending.extend(_reward_events(world, rows, now_s))
    economy.pending.extend(_inference_events(world, now_s))
    economy.periods += 1
    fold_pending(world)


def fold_pending(world: World) -> None:
    economy = world.economy
    if economy.pending:
        economy.ledger = fold(economy.pending, start=economy.ledger)
        economy.pending = []


def slash_for_fraud(world: World, offender: int, challenger: int) -> float:
    """§13: fraud loses 2× the prover's stake to the challenger (capped by the ledger). Returns NEURO taken."""
    economy, table, now_s = world.economy, world.table, world.now_s
    events = _reward_events(
        world, np.array([offender]), now_s
    )  # what it earned so far is its to lose
    offender_id = table.node_id(offender)
    before = economy.ledger.slashed_nano.get(offender_id, 0)
    stake_nano = economy.ledger.stake(offender_id) + sum(
        e.amount_nano
        for e in economy.pending
        if isinstance(e, Stake) and e.node == offender_id
    )
    amount = int(FRAUD_SLASH_STAKE_MULTIPLE * stake_nano)
    if amount > 0:  # an unstaked node has nothing to lose: why admission asks for stake
        challenger_id = table.node_id(challenger)
        events.append(
            Slash(
                challenger_id,
                now_s + _AFTER_S,
                offender_id,
                amount,
                challenger_id,
                "fraud",
            )
        )
    economy.pending.extend(events)
    fold_pending(world)
    table.stake[offender] = economy.ledger.stake(offender_id) / NANO_PER_NEURO
    table.touch(offender)
    return (economy.ledger.slashed_nano.get(offender_id, 0) - before) / NANO_PER_NEURO
