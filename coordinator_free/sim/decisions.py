"""Per-step decisions of free nodes: found quorums, pick modes, report slow members.

- Formation: every free, admitted pipeline-tier holder whose retry time has
  come tries `form_quorum` as founder, in a random order drawn each step (no
  node id is favoured). A founder that fails waits `formation_retry_s`.
  Alone in the network nobody forms a quorum (DESIGN §7: alone → SOLO).
- Modes: `modes.select_mode` for every node whose situation changed (joined,
  left or lost a quorum, lost admission) and for every free node once per
  `mode_recheck_s` (a would-be founder: every formation retry). Quorum
  members decide with `quorum_available=True`: that decision reads only
  whether n = 1 and whether the node is T5 — the same for every member (a
  member is never T5, and a quorum means n >= 2) — so one call per step
  decides all of the step's new members. Free nodes decide with False
  (their formation attempt just failed, and open seats are filled by the
  quorums' own replacement searches). Free deciders decide one
  after another, each from a view that shows the choices before it, while
  the view is the whole network; beyond that in chunks of 256 per sampled
  view: mode selection's documented weakness (all who decide at one moment
  see the same need) then costs at most one chunk of surplus.
  An unadmitted node is not a member; it is IDLE without asking the rule.
- Slow members: a LatencySample (stage latency = its layers in the quorum ×
  its real ms per layer, and its layer count) for each member over the
  lifecycle's bound, 2 × its tier's average ms per layer (the average over
  training members of the tier) per layer of its stage; and an under-bound
  sample for each member whose slow clock an earlier sample started, which
  stops it. Any other under-bound sample would clear a clock that was never
  started, so those are not sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.modes import select_mode
from coordinator_free.network_view import Mode

from .quorum_life import sample_latencies, try_found
from .quorums import LIFECYCLE
from .views import mode_view

if TYPE_CHECKING:
    from .world import World

_CHUNK = 256


def formation_pass(world: World) -> None:
    if world.network_size < 2:
        return
    table, now_s = world.table, world.now_s
    # Every free node, in pool order, whose retry time has come: one numpy mask instead of
    # a Python loop reading a numpy scalar per free node (tens of thousands at 100k nodes).
    free = np.fromiter(world.pools.members(), dtype=np.int64, count=len(world.pools))
    founders = free[table.retry_s[free] <= now_s].tolist()
    for index in world.rng.permutation(len(founders)):
        row = founders[int(index)]
        if row in world.pools and not try_found(world, row):
            table.retry_s[row] = now_s + world.scenario.views.formation_retry_s
            world.mode_dirty.add(row)


def mode_pass(world: World) -> None:
    table, count, now_s = world.table, world.table.count, world.now_s
    due = np.flatnonzero(
        table.online[:count]
        & (table.quorum[:count] < 0)
        & (table.retry_s[:count] <= now_s)
    )
    # The deciders' columns read as numpy masks, not one numpy scalar per row and test.
    deciders = np.array(sorted(world.mode_dirty.union(due.tolist())), dtype=np.int64)
    world.mode_dirty.clear()
    deciders = deciders[table.online[deciders]]
    admitted = table.admitted[deciders]
    for row in deciders[~admitted].tolist():
        table.set_mode(row, Mode.IDLE, now_s)
    in_quorum = table.quorum[deciders] >= 0
    members = deciders[admitted & in_quorum].tolist()
    free_rows = deciders[admitted & ~in_quorum]
    free = free_rows.tolist()
    _decide_members(world, members)
    chunk = 1 if world.network_size <= world.scenario.views.sample_size else _CHUNK
    for start in range(0, len(free), chunk):
        _decide(world, free[start : start + chunk], quorum_available=False)
    views, pools = world.scenario.views, world.pools
    wait_s = [views.formation_retry_s if row in pools else views.mode_recheck_s for row in free]
    table.retry_s[free_rows] = np.maximum(table.retry_s[free_rows], now_s + np.array(wait_s, dtype=np.float64))


def _decide_members(world: World, rows: list[int]) -> None:
    """One rule call decides every quorum member of the step (see the module docstring)."""
    if not rows:
        return
    table = world.table
    decision = select_mode(
        table.view(rows[0]), mode_view(world, rows[:1]), quorum_available=True
    )
    for row in rows:
        table.set_mode(row, decision.mode, world.now_s)
    world.tallies.mode_decisions += 1


def _decide(world: World, rows: list[int], *, quorum_available: bool) -> None:
    if not rows:
        return
    table = world.table
    view = mode_view(world, rows)
    for row in rows:
        decision = select_mode(table.view(row), view, quorum_available=quorum_available)
        table.set_mode(row, decision.mode, world.now_s)
        world.tallies.mode_decisions += 1


def latency_pass(world: World) -> None:
    """LatencySamples for members over the slow bound, and for those whose slow clock runs."""
    table, book, count = world.table, world.book, world.table.count
    slots = table.quorum[:count]
    members = table.online[:count] & (slots >= 0) & book.training[np.maximum(slots, 0)]
    # A member's measured stage latency is its layers in the quorum × its real ms per
    # layer; the rule compares it per layer with the average ms per layer of training
    # members of its tier (DESIGN: "the tier's average"; quorum_lifecycle's reading).
    layers = table.stage_stop[:count] - table.stage_start[:count]
    per_layer_ms = table.actual_ms[:count]
    stage_ms = layers * per_layer_ms
    tiers = table.tier[:count].astype(np.int64)
    sums = np.bincount(tiers[members], weights=per_layer_ms[members], minlength=6)
    counts = np.bincount(tiers[members], minlength=6)
    average = np.divide(sums, counts, out=np.ones(6), where=counts > 0)
    # The rule's own comparison, vectorised: factor × average × layers, in its order.
    over = members & (stage_ms > LIFECYCLE.slow_latency_factor * average[tiers] * layers)
    clocks = world.slow_clocks
    under = [row for row in clocks if members[row] and not over[row]]
    # A clock in a quorum that is not training now waits for its next sample.
    world.slow_clocks = {row for row in clocks if not members[row] and slots[row] >= 0}
    rows = sorted([*(int(row) for row in np.flatnonzero(over)), *under])
    if rows:
        world.slow_clocks.update(row for row in rows if over[row])
        sample_latencies(
            world,
            rows,
            stage_ms={row: float(stage_ms[row]) for row in rows},
            layers={row: int(layers[row]) for row in rows},
            tier_average_ms_per_layer={row: float(average[tiers[row]]) for row in rows},
        )
