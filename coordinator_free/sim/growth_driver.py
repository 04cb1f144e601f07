"""Layer growth in the simulator: the trigger, the claim window, activation, warm-up.

Every step, while no upgrade is under way, `growth.check_growth_from_counts`
decides from n, the online nodes' summed memory, the holder counts and the
network's steps since the last upgrade (training.py says whose steps). Its
inputs at every announcement go to `World.growth_log`, so a test can ask the
rule again whether growth was allowed.

The upgrade itself is `growth_upgrade`'s state machine: on announcement every
online node claims again over the new depth (`claims.choose_layer_claim`,
one node after another in a random order, each seeing the claims before
it); new arrivals claim over the new depth too. At the end of the window a
`GraceTick` with the new layers' holder counts (all, and T1-T3) activates,
extends or aborts. Activation dissolves every quorum (`ArchitectureUpgraded`),
and warm-up runs on the network's step until STABLE.

Choice the rules leave to the caller: after an abort the step count since
the last upgrade starts again (otherwise the same conditions would announce
the same upgrade at once, forever).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.constants import GROWTH_FAST_HOLDER_SLOWEST_TIER
from coordinator_free.growth import check_growth_from_counts
from coordinator_free.growth_upgrade import (
    GraceTick,
    QuorumsDissolved,
    TrainingProgress,
    TrainingResumed,
    UpgradePhase,
    announce_upgrade,
    apply_grace_tick,
    apply_quorums_dissolved,
    apply_training_progress,
    apply_training_resumed,
)
from coordinator_free.network_view import count_layer_holders
from coordinator_free.scale import target_replicas_per_layer
from coordinator_free.tiers import layer_memory_bytes

from .events import EventKind
from .membership import claim_for, update_edges
from .quorum_life import dissolve_for
from .quorums import offer_to_pools

if TYPE_CHECKING:
    from .world import World


def growth_inputs(world: World) -> dict:
    model = world.scenario.model
    return {
        "network_size": world.network_size,
        "total_memory_bytes": int(world.table.online_memory_bytes),
        "holder_counts": world.table.holders[: world.depth].copy(),
        "layer_memory_bytes": layer_memory_bytes(model.parameters_per_layer),
        "fixed_memory_bytes": layer_memory_bytes(model.fixed_parameters),
        "steps_since_upgrade": int(world.model_step - world.step_at_upgrade),
    }


def growth_step(world: World) -> None:
    upgrade, now_s, step = world.upgrade, world.now_s, int(world.model_step)
    if upgrade is None or upgrade.phase in (UpgradePhase.STABLE, UpgradePhase.ABORTED):
        inputs = growth_inputs(world)
        decision = check_growth_from_counts(**inputs)
        if decision.should_grow:
            world.growth_log.append(
                {"at_s": now_s, **inputs, "new_depth": decision.new_depth}
            )
            _announce(world, decision.new_depth)
    elif upgrade.phase is UpgradePhase.REFORMING and world.book.training.any():
        world.upgrade = apply_training_resumed(upgrade, TrainingResumed(now_s, step))
    elif upgrade.phase is UpgradePhase.WARMUP:
        world.upgrade = apply_training_progress(upgrade, TrainingProgress(step))


def _announce(world: World, new_depth: int) -> None:
    world.upgrade = announce_upgrade(
        at_s=world.now_s,
        old_arch_version=world.arch_version,
        old_depth=world.depth,
        new_depth=new_depth,
    )
    world.tallies.growth_announced += 1
    reclaim_all(world, new_depth)
    world.queue.push(world.upgrade.grace_ends_s, EventKind.GRACE_END)


def reclaim_all(world: World, depth: int) -> None:
    """Every online node claims again over `depth`, one after another in a random order."""
    table = world.table
    table.ensure_layers(depth)
    rows = np.array(world.online.items)
    for row in rows[world.rng.permutation(rows.size)]:
        row = int(row)
        table.set_claim(row, None)
        table.set_claim(row, claim_for(world, row, depth))
        offer_to_pools(world, row)
    update_edges(world)


def on_grace_end(world: World) -> None:
    upgrade, table, count = world.upgrade, world.table, world.table.count
    if upgrade is None or upgrade.phase is not UpgradePhase.ANNOUNCED:
        return
    layers = np.arange(upgrade.old_depth, upgrade.new_depth)
    fast = table.online[:count] & (
        table.tier[:count] <= GROWTH_FAST_HOLDER_SLOWEST_TIER
    )
    fast_counts = count_layer_holders(
        table.start[:count][fast], table.stop[:count][fast], upgrade.new_depth
    )
    tick = GraceTick(
        at_s=world.now_s,
        holder_counts=tuple(int(c) for c in table.holders[layers]),
        fast_holder_counts=tuple(int(c) for c in fast_counts[layers]),
        min_replicas=target_replicas_per_layer(world.network_size),
    )
    world.upgrade = apply_grace_tick(upgrade, tick)
    if world.upgrade.phase is UpgradePhase.ACTIVATED:
        _activate(world)
    elif world.upgrade.phase is UpgradePhase.ABORTED:
        world.tallies.growth_aborted += 1
        world.step_at_upgrade = world.model_step
        reclaim_all(world, world.depth)
    else:
        world.queue.push(world.upgrade.grace_ends_s, EventKind.GRACE_END)


def _activate(world: World) -> None:
    upgrade = world.upgrade
    for slot in world.book.live_slots():
        dissolve_for(world, int(slot), upgrade=True)
    world.depth = upgrade.new_depth
    world.arch_version = upgrade.new_arch_version
    world.step_at_upgrade = world.model_step
    world.upgrade = apply_quorums_dissolved(upgrade, QuorumsDissolved(world.now_s))
    world.tallies.growth_activated += 1
    for row in world.online.items:
        world.table.touch(row)
        offer_to_pools(world, row)
        world.mode_dirty.add(row)
    update_edges(world)
