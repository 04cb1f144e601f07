"""What arriving nodes bring: hardware, place, intent (the world, not the rules).

Speeds are drawn log-uniformly inside the tier's band (DESIGN §4: T1 < 10 ms,
T2 10-50, T3 50-200, T4 200-1000, T5 > 1000 ms per layer), so the tier the
rule computes from the speed is the tier the draw aimed at. Memory is uniform
in the tier's range. Regions are uniform; round trips between two regions are
drawn once per pair, and each node adds its own jitter.

Attackers: a share of arrivals, each with one behaviour. Lazy, slow and
colluding attackers must be quorum members to do harm, so their tier comes
from the pipeline tiers (T1-T4) in the mix's proportions; poisoners and Sybils
take the whole mix. Sybils come `sybils_per_host` to a host; everyone else
has a host of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from coordinator_free.constants import TIER_UPPER_BOUNDS_MS

from .scenario import Adversaries, Hardware, Regions

GIB = 1 << 30


class Behaviour(IntEnum):
    HONEST = 0
    LAZY = 1  # fakes a share of its proofs (no compute)
    SLOW = 2  # benchmarks fast, runs slow: drags its quorum
    POISON = 3  # sends poisoned pseudo-gradients to cohort syncs
    SYBIL = 4  # many cheap identities, no stake
    COLLUDE = 5  # forms quorums with its own kind and fakes everything


ATTACK_BEHAVIOURS = (
    Behaviour.LAZY,
    Behaviour.SLOW,
    Behaviour.POISON,
    Behaviour.SYBIL,
    Behaviour.COLLUDE,
)
PIPELINE_ATTACKS = frozenset({Behaviour.LAZY, Behaviour.SLOW, Behaviour.COLLUDE})


@dataclass(frozen=True)
class Arrivals:
    """A batch of new nodes as columns."""

    tiers: np.ndarray  # int, 1..5 (what the draw aimed at; the rule recomputes it)
    speeds_ms: np.ndarray  # benchmark ms per layer
    memory_bytes: np.ndarray  # free memory offered
    regions: np.ndarray  # int region index
    jitter_ms: np.ndarray  # own extra latency, ms
    behaviours: np.ndarray  # Behaviour values


def speed_bands_ms(hardware: Hardware) -> list[tuple[float, float]]:
    edges = (
        hardware.fastest_ms_per_layer,
        *TIER_UPPER_BOUNDS_MS,
        hardware.slowest_ms_per_layer,
    )
    return [(edges[i], edges[i + 1]) for i in range(5)]


def region_latency_ms(rng: np.random.Generator, regions: Regions) -> np.ndarray:
    """Symmetric round-trip matrix between regions; the diagonal is the intra-region latency."""
    count = regions.count
    matrix = rng.uniform(
        regions.inter_ms_low, regions.inter_ms_high, size=(count, count)
    )
    matrix = np.triu(matrix, 1)
    matrix = matrix + matrix.T
    np.fill_diagonal(matrix, regions.intra_ms)
    return matrix


def _behaviours(
    rng: np.random.Generator, count: int, adversaries: Adversaries
) -> np.ndarray:
    behaviours = np.zeros(count, dtype=np.int8)
    if adversaries.share <= 0:
        return behaviours
    weights = np.array(
        [getattr(adversaries, b.name.lower()) for b in ATTACK_BEHAVIOURS],
        dtype=np.float64,
    )
    attacking = rng.random(count) < adversaries.share
    chosen = rng.choice(
        len(ATTACK_BEHAVIOURS), size=int(attacking.sum()), p=weights / weights.sum()
    )
    behaviours[attacking] = np.array(
        [int(ATTACK_BEHAVIOURS[i]) for i in chosen], dtype=np.int8
    )
    return behaviours


def _tiers(
    rng: np.random.Generator, behaviours: np.ndarray, hardware: Hardware
) -> np.ndarray:
    shares = np.asarray(hardware.tier_shares, dtype=np.float64)
    tiers = rng.choice(5, size=behaviours.size, p=shares) + 1
    pipeline_only = np.isin(behaviours, [int(b) for b in PIPELINE_ATTACKS])
    if pipeline_only.any():
        pipeline_shares = shares[:4] / shares[:4].sum()
        tiers[pipeline_only] = (
            rng.choice(4, size=int(pipeline_only.sum()), p=pipeline_shares) + 1
        )
    return tiers


def draw_arrivals(
    rng: np.random.Generator,
    count: int,
    *,
    hardware: Hardware,
    regions: Regions,
    adversaries: Adversaries,
) -> Arrivals:
    """`count` new nodes; the same generator state gives the same nodes."""
    behaviours = _behaviours(rng, count, adversaries)
    tiers = _tiers(rng, behaviours, hardware)
    bands = np.log(np.array(speed_bands_ms(hardware)))
    low, high = bands[tiers - 1, 0], bands[tiers - 1, 1]
    # Log-uniform inside the band; high is exclusive (the next tier's bound).
    speeds = np.exp(low + (high - low) * rng.random(count) * (1.0 - 1e-9))
    memory_low = np.asarray(hardware.memory_gib_low)[tiers - 1]
    memory_high = np.asarray(hardware.memory_gib_high)[tiers - 1]
    memory = (
        (memory_low + (memory_high - memory_low) * rng.random(count)) * GIB
    ).astype(np.int64)
    return Arrivals(
        tiers=tiers.astype(np.int8),
        speeds_ms=speeds,
        memory_bytes=memory,
        regions=rng.integers(0, regions.count, size=count).astype(np.int16),
        jitter_ms=rng.uniform(0.0, regions.jitter_ms, size=count),
        behaviours=behaviours,
    )


# Plain ints for hot loops: an IntEnum member lookup goes through EnumType.__getattr__.
HONEST, LAZY, SLOW, POISON, SYBIL, COLLUDE = (int(b) for b in Behaviour)
