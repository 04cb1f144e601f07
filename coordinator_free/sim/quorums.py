"""Quorums in the simulator: formed, run and dissolved by the lifecycle rules.

Every quorum's state is a `QuorumState` changed only by
`quorum_lifecycle.apply_event`; formation is `form_quorum`, replacement
`find_replacement`, throughput `pipeline_layout.bottleneck_ms`. What this
module adds is *when* events happen:

- A quorum is checked (Heartbeats from the present members, BatchesCompleted,
  Tick) at its renewal time, its session end, and when a member went silent
  (60 s later: degraded; 120 s: offline). Between checks nothing a Tick
  reads can change, so skipping the 30-second heartbeats in between is
  faithful: a heartbeat only moves `last_heartbeat_s` forward, and the
  latest one before a Tick is the one that counts. A member that crashes or
  leaves gets its last heartbeat at that moment.
- Batches are integrated exactly: each quorum's rate changes only at events,
  and every event first credits the batches since the last credit.
- A quorum trains while it is live and every member is present. Its rate is
  1000 / (train_cost_factor × bottleneck ms) batches per second, from the
  members' real speeds (a slow griefer's, not its benchmark).

Not modelled: the voluntary "candidate > 20 % faster" swap at renewal (it
needs a candidate search per renewal, and changes throughput, not safety).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.pipeline_layout import bottleneck_ms
from coordinator_free.quorum_events import QuorumEvent
from coordinator_free.quorum_lifecycle import apply_event
from coordinator_free.quorum_state import LifecycleConfig, QuorumState

from .hardware import COLLUDE

if TYPE_CHECKING:
    from .world import World

LIFECYCLE = LifecycleConfig()
_ARRAYS = (
    "rate",
    "pending",
    "since_round",
    "step_batches",
    "total_batches",
    "last_credit_s",
    "utilisation",
)


@dataclass
class SimQuorum:
    state: QuorumState
    members: list[int]  # node rows, pipeline order (as state.members)
    colluding: bool  # every member colludes: all its proofs are fake
    token: int = 0  # the latest scheduled check; older ones are stale
    silent: set[int] = field(default_factory=set)  # members gone, not yet replaced


class QuorumBook:
    """Quorum slots: Python records plus numpy columns for the per-step arithmetic."""

    def __init__(self, capacity: int = 1024) -> None:
        self.records: list[SimQuorum | None] = [None] * capacity
        self.free_slots = list(range(capacity - 1, -1, -1))
        for name in _ARRAYS:
            setattr(self, name, np.zeros(capacity))
        self.live = np.zeros(capacity, dtype=bool)  # a record is in the slot
        self.training = np.zeros(capacity, dtype=bool)
        self.colluding = np.zeros(capacity, dtype=bool)  # every member colludes
        self.tier = np.zeros(capacity, dtype=np.int8)
        self.live_count = 0

    def allocate(self, record: SimQuorum, now_s: float) -> int:
        if not self.free_slots:
            self._grow()
        slot = self.free_slots.pop()
        self.records[slot] = record
        self.live[slot] = True
        for name in _ARRAYS:
            getattr(self, name)[slot] = 0.0
        self.last_credit_s[slot] = now_s
        self.colluding[slot] = record.colluding
        self.tier[slot] = max(int(m.member.tier) for m in record.state.members)
        self.live_count += 1
        return slot

    def release(self, slot: int) -> None:
        self.records[slot] = None
        self.live[slot] = self.training[slot] = self.colluding[slot] = False
        self.rate[slot] = 0.0
        self.free_slots.append(slot)
        self.live_count -= 1

    def _grow(self) -> None:
        old = len(self.records)
        self.records.extend([None] * old)
        self.free_slots.extend(range(2 * old - 1, old - 1, -1))
        for name in (*_ARRAYS, "live", "training", "colluding", "tier"):
            column = getattr(self, name)
            setattr(self, name, np.concatenate([column, np.zeros_like(column)]))

    def live_slots(self) -> np.ndarray:
        # A column kept by allocate and release: no Python pass over every slot's record.
        return np.flatnonzero(self.live)


# ------------------------------------------------------------------ batches


def credit(world: World, slot: int, now_s: float) -> None:
    """Credit a quorum's batches from its last credit up to `now_s` at its current rate."""
    book = world.book
    # Python floats (`item`) rather than numpy scalars: the same double arithmetic at a
    # fraction of the per-operation cost; credit runs at nearly every quorum event.
    last_s = book.last_credit_s.item(slot)
    if now_s <= last_s:
        return
    if book.training.item(slot):
        batches = book.rate.item(slot) * (now_s - last_s)
        for column in (book.pending, book.since_round, book.step_batches, book.total_batches):
            column[slot] = column.item(slot) + batches
    book.last_credit_s[slot] = now_s


def credit_all(world: World, now_s: float) -> None:
    book = world.book
    elapsed_s = np.maximum(now_s - book.last_credit_s, 0.0)
    batches = np.where(book.training, book.rate * elapsed_s, 0.0)
    for name in ("pending", "since_round", "step_batches", "total_batches"):
        getattr(book, name)[:] += batches
    book.last_credit_s[:] = np.maximum(book.last_credit_s, now_s)


def refresh_rate(world: World, slot: int) -> None:
    record, book, table = world.book.records[slot], world.book, world.table
    state = record.state
    if not state.is_live or record.silent:
        book.training[slot], book.rate[slot] = False, 0.0
        return
    stages = [m.member.stage for m in state.members]
    speeds = [table.fixed(row).actual_ms for row in record.members]
    factor = world.scenario.model.train_cost_factor
    book.rate[slot] = 1000.0 / (factor * bottleneck_ms(stages, speeds))
    book.training[slot] = True


def apply(world: World, slot: int, event: QuorumEvent) -> QuorumState:
    record = world.book.records[slot]
    record.state = apply_event(record.state, event)
    world.tallies.lifecycle_events += 1
    return record.state


# ------------------------------------------------------------------ membership


def join(world: World, row: int, slot: int, stage: object) -> None:
    table = world.table
    world.pools.discard(row)
    table.quorum[row] = slot
    table.quorum_ids[row] = world.book.records[slot].state.quorum_id
    table.stage_start[row], table.stage_stop[row] = stage.start, stage.stop
    table.touch(row)
    world.mode_dirty.add(row)


def leave(world: World, row: int) -> None:
    """The row is no longer in any quorum; an online, admitted row is free again."""
    table = world.table
    table.quorum[row] = -1
    table.quorum_ids[row] = None
    table.stage_start[row] = table.stage_stop[row] = 0
    table.touch(row)
    if table.online[row]:
        world.mode_dirty.add(row)
        table.retry_s[row] = world.now_s
        offer_to_pools(world, row)


def offer_to_pools(world: World, row: int) -> None:
    table = world.table
    record, claim = table.fixed(row), table.claim(row)
    eligible = (
        record.tier <= 4
        and claim is not None
        and claim.start < world.depth
        and table.quorum_ids[row] is None  # quorum < 0: join and leave write both
        and table.online[row]
        and table.admitted[row]
    )
    if eligible:
        # Colluders sit only in their own pool: they join no quorum they cannot make their own.
        world.pools.add(
            row,
            region=record.region,
            tier=record.tier,
            colluder=record.behaviour == COLLUDE,
        )
    else:
        world.pools.discard(row)
