"""NEURO rewards for a node's work over a period (DESIGN.md §14).

Rates: pipeline training 0.0005 per batch per layer; async 0.0003 per batch
per layer × freshness (age < 1 h 1.0, < 1 day 0.7, < 1 week 0.5, else 0.3;
upper bounds exclusive, so exactly one hour is 0.7); uptime 0.0001 per
minute; data serving 0.00001 per sample. Role bonus, additive: +0.2 holding
the embedding (layer 0), +0.3 holding the head (the last layer), +0.1 while
training.

Choices DESIGN leaves open:

- The role bonus multiplies the period's whole reward: total = (training +
  uptime + data) × (1 + bonus). "Additive" is read as: the bonuses add to
  each other (a node holding both ends gets × 1.5, not × 1.2 × 1.3).
- "Training" means it trained at least one batch (pipeline or async) in the
  period.
- Scarcity raises training rewards per layer: each layer's batch reward is
  × (1 + its scarcity), so a layer nobody else holds pays double. Warm-up
  (growth_upgrade.layer_learning_rate_factor) scales a new layer's reward the
  same way. Both enter as one weight per layer, default 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .constants import (
    ASYNC_FRESHNESS_OLDEST,
    ASYNC_FRESHNESS_TABLE,
    ASYNC_REWARD_PER_BATCH_LAYER,
    DATA_REWARD_PER_SAMPLE,
    EMBEDDING_HOLDER_BONUS,
    HEAD_HOLDER_BONUS,
    PIPELINE_REWARD_PER_BATCH_LAYER,
    TRAINING_BONUS,
    UPTIME_REWARD_PER_MINUTE,
)
from .errors import ProtocolError
from .network_view import LayerRange


def async_freshness(age_s: float) -> float:
    """Weight of an async contribution by the age of the weights it started from."""
    if age_s < 0:
        raise ProtocolError(f"age_s must be >= 0, got {age_s}; check the submitter's clock")
    for upper_bound_s, factor in ASYNC_FRESHNESS_TABLE:
        if age_s < upper_bound_s:
            return factor
    return ASYNC_FRESHNESS_OLDEST


def _check_counts(**counts: float) -> None:
    negative = {name: value for name, value in counts.items() if value < 0}
    if negative:
        raise ProtocolError(f"counts must be >= 0, got {negative}")


def pipeline_reward(batches: int, layer_weight_sum: float) -> float:
    """0.0005 × batches × layers (or the sum of per-layer weights)."""
    _check_counts(batches=batches, layer_weight_sum=layer_weight_sum)
    return PIPELINE_REWARD_PER_BATCH_LAYER * batches * layer_weight_sum


def async_reward(batches: int, layer_weight_sum: float, age_s: float) -> float:
    """0.0003 × batches × layers × freshness."""
    _check_counts(batches=batches, layer_weight_sum=layer_weight_sum)
    return ASYNC_REWARD_PER_BATCH_LAYER * batches * layer_weight_sum * async_freshness(age_s)


def uptime_reward(uptime_s: float) -> float:
    _check_counts(uptime_s=uptime_s)
    return UPTIME_REWARD_PER_MINUTE * uptime_s / 60.0


def data_reward(samples_served: int) -> float:
    _check_counts(samples_served=samples_served)
    return DATA_REWARD_PER_SAMPLE * samples_served


def role_bonus(*, holds_embedding: bool, holds_head: bool, training: bool) -> float:
    """The additive bonus: 0.2 + 0.3 + 0.1 at most."""
    return (
        EMBEDDING_HOLDER_BONUS * holds_embedding + HEAD_HOLDER_BONUS * holds_head + TRAINING_BONUS * training
    )


def layer_weights(
    layers: LayerRange, scarcity: np.ndarray, factors: Sequence[float] | None = None
) -> tuple[float, ...]:
    """Per-layer reward weight: (1 + scarcity) × factor (warm-up; 1 when not given)."""
    if layers.stop > scarcity.size:
        raise ProtocolError(f"layers {layers} go past the {scarcity.size} scarcity scores given")
    factors = factors if factors is not None else [1.0] * len(layers)
    if len(factors) != len(layers):
        raise ProtocolError(f"{len(factors)} factors for {len(layers)} layers")
    return tuple(
        (1.0 + float(scarcity[layer])) * factor for layer, factor in zip(layers, factors, strict=True)
    )


@dataclass(frozen=True)
class WorkPeriod:
    """What a node did between two reward computations."""

    layer_count: int  # depth of the model, to know which layer carries the head
    layers: LayerRange | None  # layers it held and trained
    pipeline_batches: int = 0  # batches processed in a quorum
    async_batches: int = 0  # batches of an accepted async contribution
    async_age_s: float = 0.0  # age of the weights that contribution started from
    uptime_s: float = 0.0  # time online
    samples_served: int = 0  # genesis data samples served to peers


@dataclass(frozen=True)
class RewardBreakdown:
    pipeline: float
    async_training: float
    uptime: float
    data: float
    bonus: float  # the additive role bonus
    total: float  # (pipeline + async + uptime + data) × (1 + bonus)


def period_reward(work: WorkPeriod, weights: Sequence[float] | None = None) -> RewardBreakdown:
    """Reward for `work`; `weights` per held layer (see layer_weights), default 1 each."""
    held = work.layers
    if held is not None and held.stop > work.layer_count:
        raise ProtocolError(f"layers {held} go past the model's {work.layer_count} layers")
    if weights is not None and len(weights) != (len(held) if held else 0):
        raise ProtocolError(f"{len(weights)} weights for layers {held}")
    weight_sum = float(sum(weights)) if weights is not None else float(len(held) if held else 0)
    pipeline = pipeline_reward(work.pipeline_batches, weight_sum)
    async_training = (
        async_reward(work.async_batches, weight_sum, work.async_age_s) if work.async_batches else 0.0
    )
    uptime, data = uptime_reward(work.uptime_s), data_reward(work.samples_served)
    bonus = role_bonus(
        holds_embedding=held is not None and 0 in held,
        holds_head=held is not None and work.layer_count - 1 in held,
        training=work.pipeline_batches + work.async_batches > 0,
    )
    return RewardBreakdown(
        pipeline=pipeline,
        async_training=async_training,
        uptime=uptime,
        data=data,
        bonus=bonus,
        total=(pipeline + async_training + uptime + data) * (1.0 + bonus),
    )


# ---------------------------------------------------------------- many nodes at once
#
# The same rule over numpy columns, for a caller that pays thousands of nodes
# per period (the simulator at 100,000 nodes; an agent settling a backlog).
# Row i of every column is one node's WorkPeriod; a row with start == stop
# holds no layers. tests/coordinator_free/sim/test_rule_additions.py checks
# every row against period_reward.


@dataclass(frozen=True)
class WorkPeriods:
    """Many nodes' WorkPeriod as columns of equal length."""

    layer_count: int  # depth of the model
    starts: np.ndarray  # first layer each node trained (int)
    stops: np.ndarray  # one past its last layer; == starts for none
    pipeline_batches: np.ndarray  # batches processed in a quorum
    async_batches: np.ndarray  # batches of accepted async contributions
    async_age_s: np.ndarray  # age of the weights those started from, s
    uptime_s: np.ndarray  # time online, s
    samples_served: np.ndarray  # genesis samples served


@dataclass(frozen=True)
class RewardColumns:
    pipeline: np.ndarray
    async_training: np.ndarray
    uptime: np.ndarray
    data: np.ndarray
    bonus: np.ndarray
    total: np.ndarray  # (pipeline + async + uptime + data) × (1 + bonus)


def async_freshness_array(ages_s: np.ndarray) -> np.ndarray:
    """async_freshness of every age."""
    ages = np.asarray(ages_s, dtype=np.float64)
    if ages.size and float(ages.min()) < 0:
        raise ProtocolError(f"ages must be >= 0, got minimum {float(ages.min())}")
    result = np.full(ages.shape, ASYNC_FRESHNESS_OLDEST)
    for upper_bound_s, factor in reversed(ASYNC_FRESHNESS_TABLE):
        result[ages < upper_bound_s] = factor
    return result


def layer_weight_sums(starts: np.ndarray, stops: np.ndarray, per_layer_weights: np.ndarray) -> np.ndarray:
    """Σ of per-layer weights (layer_weights over the whole model) over each range [start, stop)."""
    cumulative = np.concatenate(([0.0], np.cumsum(np.asarray(per_layer_weights, dtype=np.float64))))
    return cumulative[np.asarray(stops)] - cumulative[np.asarray(starts)]


def period_rewards(work: WorkPeriods, weight_sums: np.ndarray | None = None) -> RewardColumns:
    """period_reward for every row; `weight_sums` per row (layer_weight_sums), default its layer count."""
    starts, stops = np.asarray(work.starts), np.asarray(work.stops)
    if ((stops < starts) | (stops > work.layer_count) | (starts < 0)).any():
        raise ProtocolError(f"every range must satisfy 0 <= start <= stop <= {work.layer_count}")
    counts = (work.pipeline_batches, work.async_batches, work.uptime_s, work.samples_served)
    if any(float(np.min(c, initial=0.0)) < 0 for c in counts):
        raise ProtocolError("batches, uptime and samples must all be >= 0")
    weights = (stops - starts).astype(np.float64) if weight_sums is None else np.asarray(weight_sums)
    pipeline = PIPELINE_REWARD_PER_BATCH_LAYER * work.pipeline_batches * weights
    async_training = (
        ASYNC_REWARD_PER_BATCH_LAYER * work.async_batches * weights * async_freshness_array(work.async_age_s)
    )
    uptime = UPTIME_REWARD_PER_MINUTE * np.asarray(work.uptime_s, dtype=np.float64) / 60.0
    data = DATA_REWARD_PER_SAMPLE * np.asarray(work.samples_served, dtype=np.float64)
    holds = stops > starts
    bonus = (
        EMBEDDING_HOLDER_BONUS * (holds & (starts == 0))
        + HEAD_HOLDER_BONUS * (holds & (stops == work.layer_count))
        + TRAINING_BONUS * ((work.pipeline_batches + work.async_batches) > 0)
    )
    total = (pipeline + async_training + uptime + data) * (1.0 + bonus)
    return RewardColumns(pipeline, async_training, uptime, data, bonus, total)
