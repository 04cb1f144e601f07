"""Training in aggregate: batches per step, the network's step, and DiLoCo cohort syncs.

Per time step (not per batch; a batch is milliseconds to seconds):

- Quorums' batches are integrated exactly in quorums.py. A SOLO node trains
  its whole model, an ASYNC node its claimed layers, alone: 1000 /
  (train_cost_factor × real ms per layer × layers) batches per second, for
  the part of the step it spent in that mode (its mode at the step's end,
  from when it entered it).
- The network's step (what growth's "10000 steps since the last upgrade" and
  warm-up count; DESIGN does not say whose steps): the median live quorum's
  inner steps. A median, so neither one very fast quorum nor the slowest
  decides for the network; it is what most of a layer's holders trained.
- A cohort sync round happens each time the network's step passes another
  sync interval (§7: 100/500/1000 batches by n). Every holder that trained
  contributes what it trained since the last round. Contribution weights are
  `diloco.contribution_weight`, called once per distinct (batches, age)
  pair. Robust aggregation runs for real (`diloco.apply_cohort_sync`, the
  default clip → NNM → trimmed mean) on a sample of `aggregation_sample`
  contributions per layer class — layers whose cohorts have the same size
  and poisoner share — with synthetic vectors (honest: the true direction
  plus noise; poisoned: −poison_scale × it); its clipped and trimmed counts
  are scaled to the whole cohort. Rounds that fall in one step share one
  computation, their counts multiplied: membership changes only at events,
  so they see the same contributors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.diloco import (
    CohortSync,
    PseudoGradient,
    apply_cohort_sync,
    contribution_weight,
    initial_outer_state,
)
from coordinator_free.network_view import Mode, count_layer_holders
from coordinator_free.scale import sync_interval_batches

from .hardware import POISON
from .nodes import MODE_INDEX

if TYPE_CHECKING:
    from .world import World

_DIMENSION = 32  # synthetic pseudo-gradient length: enough for NNM and trimming to act
_NOISE = 0.5  # honest noise around the unit true direction, per unit length


def train_alone(world: World, dt: float) -> None:
    """Batches of SOLO and ASYNC nodes over the step that just ended."""
    table, count = world.table, world.table.count
    solo = table.online[:count] & (table.mode[:count] == MODE_INDEX[Mode.SOLO])
    asynchronous = (
        table.online[:count]
        & table.admitted[:count]
        & (table.mode[:count] == MODE_INDEX[Mode.ASYNC])
    )
    layers = np.minimum(table.stop[:count], world.depth) - table.start[:count]
    layers = np.where(solo, world.depth, np.maximum(layers, 0))
    seconds = np.clip(world.now_s - table.mode_since_s[:count], 0.0, dt)
    factor = world.scenario.model.train_cost_factor
    training = (solo | asynchronous) & (layers > 0)
    rate = np.zeros(count)
    rate[training] = 1000.0 / (
        factor * table.actual_ms[:count][training] * layers[training]
    )
    table.own_batches[:count] = rate * seconds
    table.since_round[:count] += np.where(asynchronous, table.own_batches[:count], 0.0)


def advance_network_step(world: World) -> float:
    """Move the network's step by the median live quorum's batches this step; return them."""
    book = world.book
    batches = book.step_batches[book.training]
    if batches.size:
        advance = float(np.median(batches))
    else:
        solo = world.table.own_batches[: world.table.count][
            world.table.mode[: world.table.count] == MODE_INDEX[Mode.SOLO]
        ]
        advance = float(solo.max()) if solo.size else 0.0
    world.model_step += advance
    return advance


def run_sync_rounds(world: World) -> int:
    """Cohort syncs due by the network's step; returns how many happened this step."""
    interval = sync_interval_batches(world.network_size)
    rounds = int((world.model_step - world.last_round_step) // interval)
    if rounds < 1:
        return 0
    world.last_round_step += rounds * interval
    contributors = _contributors(world)
    if contributors is not None:
        _sync(world, contributors, rounds)
    world.book.since_round[:] = 0.0
    table = world.table
    table.since_round[: table.count] = 0.0
    table.theta_start_s[: table.count] = world.now_s
    world.tallies.sync_rounds += rounds
    return rounds


def _contributors(world: World) -> dict[str, np.ndarray] | None:
    """Who trained since the last round: rows, layers trained, batches, ages, poisoners."""
    table, book, count = world.table, world.book, world.table.count
    online = table.online[:count]
    in_quorum = online & (table.quorum[:count] >= 0)
    slots = np.where(in_quorum, table.quorum[:count], 0)
    pipeline_batches = np.where(in_quorum, book.since_round[slots], 0.0)
    async_batches = np.where(
        online & (table.mode[:count] == MODE_INDEX[Mode.ASYNC]),
        table.since_round[:count],
        0.0,
    )
    pipeline = pipeline_batches >= 1.0
    asynchronous = ~pipeline & (async_batches >= 1.0)
    rows = np.flatnonzero(pipeline | asynchronous)
    if rows.size == 0:
        return None
    piped = pipeline[rows]
    return {
        "rows": rows,
        "starts": np.where(piped, table.stage_start[rows], table.start[rows]),
        "stops": np.where(
            piped, table.stage_stop[rows], np.minimum(table.stop[rows], world.depth)
        ),
        "batches": np.floor(
            np.where(piped, pipeline_batches[rows], async_batches[rows])
        ).astype(np.int64),
        "ages_s": np.where(
            piped, 0.0, np.maximum(world.now_s - table.theta_start_s[rows], 0.0)
        ),
        "poison": table.behaviour[rows] == POISON,
        "tiers": table.tier[rows].astype(np.int64),
    }


def _weights(contributors: dict[str, np.ndarray], rounds: int) -> np.ndarray:
    """diloco.contribution_weight for each contributor, once per distinct (batches, age)."""
    batches = np.maximum(contributors["batches"] // rounds, 0)
    # Each (batches, age) pair as one complex number: np.unique of a 1-D array sorts
    # plain values, several times cheaper than its row-wise axis=0 form.
    pairs = np.empty(batches.size, dtype=np.complex128)
    pairs.real = batches
    pairs.imag = contributors["ages_s"]
    unique, inverse = np.unique(pairs, return_inverse=True)
    weights = np.array(
        [contribution_weight(int(p.real), float(p.imag)) for p in unique.tolist()]
    )
    return weights[inverse]


def _sync(world: World, contributors: dict[str, np.ndarray], rounds: int) -> None:
    tallies = world.tallies
    weights = _weights(contributors, rounds)
    for tier in range(1, 6):
        world.sync_weight_by_tier[tier] += (
            float(weights[contributors["tiers"] == tier].sum()) * rounds
        )
    starts, stops = contributors["starts"], contributors["stops"]
    cohort = count_layer_holders(starts, stops, world.depth)
    poisoned = count_layer_holders(
        starts[contributors["poison"]], stops[contributors["poison"]], world.depth
    )
    tallies.contributions += int(cohort.sum()) * rounds
    tallies.poisoned_contributions += int(poisoned.sum()) * rounds
    sample = world.scenario.views.aggregation_sample
    classes: dict[tuple[int, int], list[int]] = {}
    for layer in np.flatnonzero(cohort):
        size = min(int(cohort[layer]), sample)
        bad = round(size * int(poisoned[layer]) / int(cohort[layer]))
        key = (
            size,
            max(bad, 1) if poisoned[layer] else 0,
        )  # a layer with poisoners samples at least one
        classes.setdefault(key, []).append(int(layer))
    for (size, bad), layers in classes.items():
        shares = _aggregate_sample(world, contributors, layers[0], size, bad, rounds)
        for layer in layers:
            tallies.poisoned_clipped += shares[0] * int(poisoned[layer]) * rounds
            tallies.poisoned_trimmed += shares[1] * int(poisoned[layer]) * rounds
            tallies.honest_clipped += (
                shares[2] * int(cohort[layer] - poisoned[layer]) * rounds
            )


def _aggregate_sample(
    world: World,
    contributors: dict[str, np.ndarray],
    layer: int,
    size: int,
    bad: int,
    rounds: int,
) -> tuple[float, float, float]:
    """Run the real cohort sync on `size` sampled contributions of `layer`, `bad` of them poisoned.

    Returns the shares of poisoned contributions clipped and mostly trimmed
    (>= half their coordinates dropped) and of honest ones clipped.
    """
    rng, table = world.rng, world.table
    covering = (contributors["starts"] <= layer) & (contributors["stops"] > layer)
    honest = np.flatnonzero(covering & ~contributors["poison"])
    poison = np.flatnonzero(covering & contributors["poison"])
    bad = min(bad, poison.size)
    picked = [
        *rng.choice(poison, size=bad, replace=False),
        *rng.choice(honest, size=min(size - bad, honest.size), replace=False),
    ]
    truth = np.full(_DIMENSION, 1.0 / np.sqrt(_DIMENSION), dtype=np.float32)
    scale = world.scenario.adversaries.poison_scale
    submissions, poisoned_ids = [], set()
    for index in picked:
        node_id = table.node_id(int(contributors["rows"][index]))
        noise = rng.normal(0.0, _NOISE / np.sqrt(_DIMENSION), _DIMENSION)
        is_poison = bool(contributors["poison"][index])
        delta = (-scale * truth if is_poison else truth) + noise
        if is_poison:
            poisoned_ids.add(node_id)
        submissions.append(
            PseudoGradient(
                node_id=node_id,
                delta=delta.astype(np.float32),
                batches=int(contributors["batches"][index]) // rounds,
                produced_at_s=world.now_s - float(contributors["ages_s"][index]),
            )
        )
    outer = initial_outer_state(np.zeros(_DIMENSION, dtype=np.float32))
    result = apply_cohort_sync(
        outer, CohortSync(tuple(submissions), world.now_s)
    ).last_aggregation
    honest_count = len(submissions) - len(poisoned_ids)
    clipped = {
        n for n, scale_kept in result.clip_scale_by_node.items() if scale_kept < 1.0
    }
    trimmed = {
        n for n, share in result.trimmed_fraction_by_node.items() if share >= 0.5
    }
    return (
        len(clipped & poisoned_ids) / bad if bad else 0.0,
        len(trimmed & poisoned_ids) / bad if bad else 0.0,
        len(clipped - poisoned_ids) / honest_count if honest_count else 0.0,
    )
