"""DiLoCo cohort sync: contribution weights and the outer Nesterov step (DESIGN §9).

Every sync interval each holder of a layer sends its pseudo-gradient
Δ = θ_start − θ_now. Δ points the way a gradient points (uphill), so the outer
step *subtracts* it:

    m ← μ·m + g            (g: the cohort's robust aggregate of the Δs)
    θ ← θ_start − lr·(g + μ·m)     lr = 0.7, μ = 0.9 (Nesterov, PyTorch's form)

Adding it, as one early write-up did, undoes training; test_diloco pins the
sign on a quadratic. Weights: w = max(0.1, √batches × freshness(age)), then
normalised (aggregation.normalised_weights) by the aggregator over the
contributions it can use.

Choices where DESIGN.md is silent:
- A contribution's age is `now_s − produced_at_s`. A timestamp up to
  MAX_CLOCK_SKEW_S in the future counts as age 0 (clocks differ); further in
  the future is refused with ProtocolError: the wire layer already rejects
  such skew, so reaching here is a caller bug.
- `batches` may be 0 (a node that joined the cohort late): it gets the floor.
- The momentum buffer starts at zero, so the first step is lr·(1 + μ)·g.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from coordinator_free.aggregation import (
    DEFAULT_CONFIG as DEFAULT_AGGREGATION,
)
from coordinator_free.aggregation import (
    AggregationConfig,
    AggregationResult,
    Contribution,
    aggregate,
)
from coordinator_free.constants import (
    CONTRIBUTION_WEIGHT_FLOOR,
    DILOCO_FRESHNESS_OLDEST,
    DILOCO_FRESHNESS_TABLE,
    MAX_CLOCK_SKEW_S,
    OUTER_LEARNING_RATE,
    OUTER_NESTEROV_MOMENTUM,
)
from coordinator_free.errors import ProtocolError
from coordinator_free.types import NodeId


@dataclass(frozen=True)
class DiLoCoConfig:
    outer_learning_rate: float = (
        OUTER_LEARNING_RATE  # dimensionless step on the aggregate
    )
    nesterov_momentum: float = OUTER_NESTEROV_MOMENTUM  # μ, dimensionless
    aggregation: AggregationConfig = DEFAULT_AGGREGATION  # robust mean of the cohort


@dataclass(frozen=True, eq=False)
class PseudoGradient:
    """One holder's submission to a cohort sync."""

    node_id: NodeId
    delta: np.ndarray  # θ_start − θ_now, flat float32
    batches: int  # batches trained since θ_start
    produced_at_s: float  # when Δ was computed, seconds on the shared clock


@dataclass(frozen=True)
class CohortSync:
    """The event: this round's pseudo-gradients, applied at `now_s`."""

    pseudo_gradients: tuple[PseudoGradient, ...]
    now_s: float  # seconds on the shared clock


@dataclass(frozen=True, eq=False)
class OuterState:
    """A layer's outer-optimiser state between cohort syncs."""

    parameters: np.ndarray  # θ_start of the next round, flat float32
    momentum: np.ndarray  # Nesterov buffer m, flat float32
    rounds_applied: int  # cohort syncs applied so far
    last_aggregation: AggregationResult | None = (
        None  # who counted and who was trimmed, last round
    )


def freshness(age_s: float) -> float:
    """Freshness factor of a contribution that is `age_s` seconds old."""
    for upper_bound_s, factor in DILOCO_FRESHNESS_TABLE:
        if age_s < upper_bound_s:
            return factor
    return DILOCO_FRESHNESS_OLDEST


def contribution_weight(batches: int, age_s: float) -> float:
    """Unnormalised weight: max(0.1, √batches × freshness)."""
    if batches < 0:
        raise ProtocolError(f"batches must be >= 0, got {batches}")
    return max(CONTRIBUTION_WEIGHT_FLOOR, math.sqrt(batches) * freshness(age_s))


def pseudo_gradient(
    start_parameters: np.ndarray, current_parameters: np.ndarray
) -> np.ndarray:
    """Δ = θ_start − θ_now, flat float32."""
    if start_parameters.shape != current_parameters.shape:
        raise ProtocolError(
            f"θ_start has shape {start_parameters.shape} but θ_now has {current_parameters.shape}; "
            "both must be the same layer's parameters"
        )
    return (
        start_parameters.astype(np.float32) - current_parameters.astype(np.float32)
    ).ravel()


def initial_outer_state(parameters: np.ndarray) -> OuterState:
    flat = np.array(parameters, dtype=np.float32).ravel()
    return OuterState(parameters=flat, momentum=np.zeros_like(flat), rounds_applied=0)


def apply_outer_step(
    state: OuterState, aggregate_delta: np.ndarray, config: DiLoCoConfig
) -> OuterState:
    """θ ← θ_start − lr·(g + μ·m), m ← μ·m + g."""
    if aggregate_delta.shape != state.parameters.shape:
        raise ProtocolError(
            f"aggregate has {aggregate_delta.size} values but the layer has {state.parameters.size}"
        )
    gradient = aggregate_delta.astype(np.float32)
    momentum_factor = np.float32(config.nesterov_momentum)
    momentum = momentum_factor * state.momentum + gradient
    step = gradient + momentum_factor * momentum
    parameters = state.parameters - np.float32(config.outer_learning_rate) * step
    return OuterState(
        parameters=parameters,
        momentum=momentum,
        rounds_applied=state.rounds_applied + 1,
    )


def weighted_contributions(sync: CohortSync) -> list[Contribution]:
    """The aggregator's inputs: each Δ with its unnormalised weight at `sync.now_s`."""
    contributions = []
    for submitted in sync.pseudo_gradients:
        age_s = sync.now_s - submitted.produced_at_s
        if age_s < -MAX_CLOCK_SKEW_S:
            raise ProtocolError(
                f"pseudo-gradient of {submitted.node_id} is dated {-age_s:.1f} s in the future "
                f"(more than the {MAX_CLOCK_SKEW_S:.0f} s clock skew allowed); reject it at the wire"
            )
        weight = contribution_weight(submitted.batches, max(age_s, 0.0))
        contributions.append(Contribution(submitted.node_id, submitted.delta, weight))
    return contributions


def apply_cohort_sync(
    state: OuterState, sync: CohortSync, config: DiLoCoConfig = DiLoCoConfig()
) -> OuterState:
    """One cohort sync: weigh, aggregate robustly, take the outer step."""
    result = aggregate(weighted_contributions(sync), config.aggregation)
    stepped = apply_outer_step(state, result.vector, config)
    return replace(stepped, last_aggregation=result)
