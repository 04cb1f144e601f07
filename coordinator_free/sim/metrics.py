"""The time series: one row per step, everything the summary and the checks need.

Columns are plain numbers (phase and upgrade phase as their ordinal numbers)
so the series writes straight to CSV and any check can recompute a rule's
decision from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coordinator_free.constants import REFERENCE_BATCH_SEQUENCES, REFERENCE_BATCH_TOKENS
from coordinator_free.scale import network_phase, spot_check_probability

from .hardware import HONEST
from .nodes import MODES

if TYPE_CHECKING:
    from .world import World

TOKENS_PER_BATCH = REFERENCE_BATCH_SEQUENCES * REFERENCE_BATCH_TOKENS
UPGRADE_PHASES = (
    "none",
    "announced",
    "activated",
    "reforming",
    "warmup",
    "stable",
    "aborted",
)
COLUMNS = (
    "time_h",
    "nodes",
    "admitted",
    "phase",
    "depth",
    "arch_version",
    "vocab_version",
    "upgrade_phase",
    "quorums",
    "quorums_t1",
    "quorums_t2",
    "quorums_t3",
    "quorums_t4",
    "training_quorums",
    "free_candidates",
    *(f"mode_{mode.value}" for mode in MODES),
    "replicas_min",
    "replicas_mean",
    "embedding_holders",
    "head_holders",
    "memory_tib",
    "model_step",
    "steps_since_upgrade",
    "sync_rounds",
    "tokens_per_s",
    "tokens_per_s_per_pipeline_node",
    "layer_tokens_per_s_per_pipeline_node",  # × depth: compute, unchanged by a growth
    "compute_efficiency",  # layer-tokens/s over what the online members' hardware could do
    "tokens_trained",
    "spot_check_p",
    "fake_proofs_caught",
    "attackers_caught",
    "honest_slashed",
    *(f"rewards_t{tier}" for tier in range(1, 6)),
    "inference_tokens",
)


class Recorder:
    def __init__(self) -> None:
        self.rows: list[tuple[float, ...]] = []
        self.tokens_trained = 0.0

    def column(self, name: str) -> np.ndarray:
        index = COLUMNS.index(name)
        return np.array([row[index] for row in self.rows], dtype=np.float64)

    def record(self, world: World, *, real_batches: float, dt: float) -> None:
        table, book, count, depth = (
            world.table,
            world.book,
            world.table.count,
            world.depth,
        )
        online = table.online[:count]
        live = book.live_slots()
        quorum_tiers = np.bincount(book.tier[live].astype(np.int64), minlength=5)
        modes = np.bincount(
            table.mode[:count][online].astype(np.int64), minlength=len(MODES)
        )
        holders = table.holders[:depth]
        self.tokens_trained += real_batches * TOKENS_PER_BATCH
        pipeline_nodes = _pipeline_capable(world)
        tokens_per_s = real_batches * TOKENS_PER_BATCH / dt
        upgrade = world.upgrade
        row = (
            world.now_s / 3600.0,
            world.table.online_count,
            int((online & table.admitted[:count]).sum()),
            int(network_phase(world.network_size)),
            depth,
            world.arch_version,
            world.vocab_version,
            UPGRADE_PHASES.index(upgrade.phase.value) if upgrade is not None else 0,
            int(live.size),
            *(int(quorum_tiers[tier]) for tier in range(1, 5)),
            int(book.training.sum()),
            len(world.pools),
            *(int(modes[i]) for i in range(len(MODES))),
            int(holders.min()),
            float(holders.mean()),
            int(holders[0]),
            int(holders[depth - 1]),
            world.table.online_memory_bytes / 2**40,
            world.model_step,
            world.model_step - world.step_at_upgrade,
            world.tallies.sync_rounds,
            tokens_per_s,
            tokens_per_s / max(1, pipeline_nodes),
            tokens_per_s * depth / max(1, pipeline_nodes),
            tokens_per_s * depth / _capacity_layer_tokens_per_s(world),
            self.tokens_trained,
            spot_check_probability(world.network_size),
            world.tallies.fake_proofs_caught,
            world.tallies.attackers_caught,
            honest_slashed(world),
            *rewards_by_tier(world),
            world.tallies.inference_tokens,
        )
        self.rows.append(row)


def _capacity_layer_tokens_per_s(world: World) -> float:
    """Layer-tokens per second if every online member trained all the time at its real speed."""
    table, count = world.table, world.table.count
    members = table.online[:count] & table.admitted[:count]
    factor = world.scenario.model.train_cost_factor
    return max(
        1e-9,
        float((1000.0 / (factor * table.actual_ms[:count][members])).sum())
        * TOKENS_PER_BATCH,
    )


def _pipeline_capable(world: World) -> int:
    table, count = world.table, world.table.count
    return int(
        (
            table.online[:count] & table.admitted[:count] & (table.tier[:count] <= 4)
        ).sum()
    )


def honest_slashed(world: World) -> int:
    table = world.table
    return sum(
        1
        for node_id, taken in world.economy.ledger.slashed_nano.items()
        if taken > 0 and table.behaviour[table.index_of(node_id)] == HONEST
    )


def rewards_by_tier(world: World) -> list[float]:
    count, economy = world.table.count, world.economy
    total = sum(values[:count] for values in economy.earned.values())
    sums = np.bincount(
        world.table.tier[:count].astype(np.int64), weights=total, minlength=6
    )
    return [float(sums[tier]) for tier in range(1, 6)]
