"""Layer growth: when the model gets deeper, and how a new layer starts (DESIGN.md §10).

Trigger, all four at once: total network memory ≥ model memory × the §7
growth threshold; every layer has its minimum (= target) replicas; at least
10000 steps since the last upgrade; the optimal depth exceeds today's by
more than 2 layers.

Choices DESIGN leaves open:

- Memory is what a node needs to *train* a layer (tiers.layer_memory_bytes
  with training=True): the caller passes `layer_memory_bytes` and
  `fixed_memory_bytes` (embedding + head).
- Optimal depth = the deepest model the network's memory holds at the growth
  threshold: floor((total / threshold − fixed) / per layer). So "memory ≥
  model × threshold" is the same as "optimal ≥ today's depth".
- One upgrade grows at most to `GROWTH_MAX_DEPTH_FACTOR` × today's depth, so
  a burst of joining memory does not make the model mostly near-identity
  layers; the next upgrade may follow after 10000 steps.
- New layers are appended after the last one (indices old_depth..new_depth-1;
  the head stays with the last layer). Near-identity start makes position
  irrelevant to the function computed, and appending leaves every existing
  holder's layer numbers unchanged.
- Near identity: the output projections of attention and MLP are scaled by
  0.01 and *their* biases zeroed (the parameter names of
  `agent.model.parameters.block_shapes`), so a new block adds ≈ 0 to the
  residual stream. `apply_near_identity` is the spec as numpy.

The six-phase upgrade machine lives in growth_upgrade.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .constants import (
    GROWTH_MAX_DEPTH_FACTOR,
    GROWTH_MIN_NEW_LAYERS_EXCLUSIVE,
    GROWTH_MIN_STEPS_SINCE_UPGRADE,
    NEW_LAYER_OUTPUT_SCALE,
)
from .errors import ProtocolError
from .network_view import NetworkView
from .scale import growth_threshold, target_replicas_per_layer


@dataclass(frozen=True)
class GrowthDecision:
    should_grow: bool
    current_depth: int
    new_depth: int  # equals current_depth when not growing
    optimal_depth: int  # what memory alone would allow
    blockers: tuple[str, ...]  # every unmet condition, for the log


def model_memory_bytes(depth: int, *, layer_memory_bytes: int, fixed_memory_bytes: int) -> int:
    """Memory to train the whole model once: its blocks plus embedding and head."""
    return depth * layer_memory_bytes + fixed_memory_bytes


def optimal_depth(
    total_memory_bytes: int, threshold: float, *, layer_memory_bytes: int, fixed_memory_bytes: int
) -> int:
    """The deepest model whose memory × threshold fits in the network's memory."""
    if layer_memory_bytes <= 0 or threshold <= 0:
        raise ProtocolError(
            f"layer_memory_bytes ({layer_memory_bytes}) and threshold ({threshold}) must be > 0"
        )
    room_bytes = total_memory_bytes / threshold - fixed_memory_bytes
    return max(0, int(room_bytes // layer_memory_bytes))


def check_growth(
    view: NetworkView, *, layer_memory_bytes: int, fixed_memory_bytes: int, steps_since_upgrade: int
) -> GrowthDecision:
    """Whether the model in `view` (depth = view.layer_count) should grow now, and to what depth."""
    return check_growth_from_counts(
        network_size=view.size,
        total_memory_bytes=view.total_memory_bytes,
        holder_counts=view.holder_counts,
        layer_memory_bytes=layer_memory_bytes,
        fixed_memory_bytes=fixed_memory_bytes,
        steps_since_upgrade=steps_since_upgrade,
    )


def check_growth_from_counts(
    *,
    network_size: int,
    total_memory_bytes: int,
    holder_counts: np.ndarray,
    layer_memory_bytes: int,
    fixed_memory_bytes: int,
    steps_since_upgrade: int,
) -> GrowthDecision:
    """`check_growth` on the view's totals: n, summed memory and holders per layer (depth = len).

    For a caller that keeps these counts itself (the simulator at 100,000
    nodes) instead of building a view for every check.
    """
    depth = len(holder_counts)
    if depth < 1:
        raise ProtocolError("holder_counts must list at least one layer")
    threshold = growth_threshold(network_size)
    needed_bytes = model_memory_bytes(
        depth, layer_memory_bytes=layer_memory_bytes, fixed_memory_bytes=fixed_memory_bytes
    )
    optimal = optimal_depth(
        total_memory_bytes,
        threshold,
        layer_memory_bytes=layer_memory_bytes,
        fixed_memory_bytes=fixed_memory_bytes,
    )
    blockers = _growth_blockers(
        total_memory_bytes=total_memory_bytes,
        needed_bytes=needed_bytes * threshold,
        holder_counts=np.asarray(holder_counts),
        replicas=target_replicas_per_layer(network_size),
        optimal=optimal,
        steps_since_upgrade=steps_since_upgrade,
    )
    return GrowthDecision(
        should_grow=not blockers,
        current_depth=depth,
        new_depth=depth if blockers else min(optimal, GROWTH_MAX_DEPTH_FACTOR * depth),
        optimal_depth=optimal,
        blockers=blockers,
    )


def _growth_blockers(
    *,
    total_memory_bytes: int,
    needed_bytes: float,
    holder_counts: np.ndarray,
    replicas: int,
    optimal: int,
    steps_since_upgrade: int,
) -> tuple[str, ...]:
    """Every unmet growth condition, in DESIGN's order."""
    depth = len(holder_counts)
    blockers = []
    if total_memory_bytes < needed_bytes:
        blockers.append(
            f"network memory {total_memory_bytes} B < model × threshold = {needed_bytes:.0f} B"
        )
    thin = np.flatnonzero(holder_counts < replicas)
    if thin.size:
        blockers.append(f"{thin.size} layer(s) below {replicas} replicas, first: layer {int(thin[0])}")
    if steps_since_upgrade < GROWTH_MIN_STEPS_SINCE_UPGRADE:
        blockers.append(
            f"{steps_since_upgrade} steps since the last upgrade < {GROWTH_MIN_STEPS_SINCE_UPGRADE}"
        )
    if optimal - depth <= GROWTH_MIN_NEW_LAYERS_EXCLUSIVE:
        blockers.append(
            f"optimal depth {optimal} is not more than {GROWTH_MIN_NEW_LAYERS_EXCLUSIVE} above {depth}"
        )
    return tuple(blockers)


def new_layer_indices(old_depth: int, new_depth: int) -> range:
    """New layers are appended: their numbers, in order."""
    if new_depth <= old_depth:
        raise ProtocolError(f"new depth {new_depth} must exceed the old depth {old_depth}")
    return range(old_depth, new_depth)


@dataclass(frozen=True)
class NearIdentityInit:
    """How the agent initialises a new block so that it starts as (almost) the identity."""

    output_projection_scale: float = NEW_LAYER_OUTPUT_SCALE  # × the fresh random init
    scaled_parameters: tuple[str, ...] = ("attn.proj.weight", "mlp.fc2.weight")
    zeroed_parameters: tuple[str, ...] = ("attn.proj.bias", "mlp.fc2.bias")


NEAR_IDENTITY_INIT = NearIdentityInit()


def apply_near_identity(
    block: Mapping[str, np.ndarray], spec: NearIdentityInit = NEAR_IDENTITY_INIT
) -> dict[str, np.ndarray]:
    """A freshly initialised block's parameters (names as in block_shapes), made near identity."""
    missing = sorted(set(spec.scaled_parameters + spec.zeroed_parameters) - set(block))
    if missing:
        raise ProtocolError(f"block lacks parameters {missing}; it has {sorted(block)}")
    result = {name: np.array(value, copy=True) for name, value in block.items()}
    for name in spec.scaled_parameters:
        result[name] = result[name] * np.asarray(spec.output_projection_scale, dtype=result[name].dtype)
    for name in spec.zeroed_parameters:
        result[name] = np.zeros_like(result[name])
    return result
