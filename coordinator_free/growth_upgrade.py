"""The architecture upgrade as a pure state machine (DESIGN.md §10).

    ANNOUNCED ──grace over, new layers ready──▶ ACTIVATED ──quorums dissolved──▶ REFORMING
        │  └─grace over, not ready: extend (≤ 3 times)                              │
        └─not ready after 3 extensions──▶ ABORTED          training resumed at step s
                                                                                     ▼
                                          STABLE ◀──s + 1000 steps── WARMUP

ANNOUNCED is DESIGN's "announce" and "grace" together: the announcement opens
the 10-minute window in which nodes claim the new layers. When the window
ends (`GraceTick` at or after `grace_ends_s`), activation needs every new
layer to hold its minimum replicas and at least one T1-T3 holder; otherwise
the window is extended by another 10 minutes, and after 3 extensions the
upgrade is aborted (the old architecture stays). On activation every node
bumps arch_version and dissolves its quorums (quorum_lifecycle's
ArchitectureUpgraded); `QuorumsDissolved` and then `TrainingResumed` record
that, and warm-up counts steps from the resumption.

Warm-up: new layers train at 0.1× the learning rate rising linearly to 1×
over 1000 steps. DESIGN says "reduced rewards" without a number; the choice
here is that rewards for new layers scale by the same factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from .constants import (
    GROWTH_FAST_HOLDER_SLOWEST_TIER,
    GROWTH_GRACE_S,
    GROWTH_MAX_EXTENSIONS,
    GROWTH_MIN_FAST_HOLDERS_PER_NEW_LAYER,
    GROWTH_WARMUP_START_LR_FACTOR,
    GROWTH_WARMUP_STEPS,
)
from .errors import ProtocolError
from .growth import new_layer_indices
from .network_view import NetworkView
from .scale import target_replicas_per_layer
from .tiers import Tier


class UpgradePhase(Enum):
    ANNOUNCED = "announced"  # grace window open: nodes claim new layers
    ACTIVATED = "activated"  # new arch_version live; quorums must dissolve
    REFORMING = "reforming"  # quorums dissolved, reforming on the new depth
    WARMUP = "warmup"  # new layers at a reduced learning rate
    STABLE = "stable"
    ABORTED = "aborted"


@dataclass(frozen=True)
class GrowthConfig:
    """Timings of an upgrade; tests shrink them here."""

    grace_s: float = GROWTH_GRACE_S  # claim window, and each extension, s
    max_extensions: int = GROWTH_MAX_EXTENSIONS  # extensions before aborting
    warmup_steps: int = GROWTH_WARMUP_STEPS  # steps from start to full learning rate
    warmup_start_lr_factor: float = GROWTH_WARMUP_START_LR_FACTOR  # × lr at the first step


@dataclass(frozen=True)
class UpgradeState:
    old_arch_version: int
    new_arch_version: int
    old_depth: int
    new_depth: int
    phase: UpgradePhase
    announced_at_s: float
    grace_ends_s: float  # end of the current claim window
    extensions: int = 0  # extensions used so far
    activated_at_s: float | None = None
    warmup_start_step: int | None = None  # training step at which warm-up began
    config: GrowthConfig = GrowthConfig()

    @property
    def new_layers(self) -> range:
        return new_layer_indices(self.old_depth, self.new_depth)


@dataclass(frozen=True)
class GraceTick:
    at_s: float
    holder_counts: tuple[int, ...]  # holders of each new layer, in order
    fast_holder_counts: tuple[int, ...]  # of those, holders of tier T1-T3
    min_replicas: int  # §7 target replicas for the current network size


@dataclass(frozen=True)
class QuorumsDissolved:
    at_s: float


@dataclass(frozen=True)
class TrainingResumed:
    at_s: float
    step: int  # the training step at which new layers start warming up


@dataclass(frozen=True)
class TrainingProgress:
    step: int  # the current training step


def announce_upgrade(
    *, at_s: float, old_arch_version: int, old_depth: int, new_depth: int, config: GrowthConfig | None = None
) -> UpgradeState:
    config = config or GrowthConfig()
    new_layer_indices(old_depth, new_depth)  # validates the depths
    return UpgradeState(
        old_arch_version=old_arch_version,
        new_arch_version=old_arch_version + 1,
        old_depth=old_depth,
        new_depth=new_depth,
        phase=UpgradePhase.ANNOUNCED,
        announced_at_s=at_s,
        grace_ends_s=at_s + config.grace_s,
        config=config,
    )


def grace_tick_from_view(state: UpgradeState, view: NetworkView, at_s: float) -> GraceTick:
    """Holder counts of the new layers, from a view whose layer_count is the new depth."""
    if view.layer_count != state.new_depth:
        raise ProtocolError(f"view has {view.layer_count} layers; the upgrade is to {state.new_depth}")
    layers = np.arange(state.old_depth, state.new_depth)
    fast = view.layer_holder_counts(max_tier=Tier(GROWTH_FAST_HOLDER_SLOWEST_TIER))
    return GraceTick(
        at_s=at_s,
        holder_counts=tuple(int(c) for c in view.holder_counts[layers]),
        fast_holder_counts=tuple(int(c) for c in fast[layers]),
        min_replicas=target_replicas_per_layer(view.size),
    )


def are_new_layers_ready(
    holder_counts: Sequence[int], fast_holder_counts: Sequence[int], min_replicas: int
) -> bool:
    return all(h >= min_replicas for h in holder_counts) and all(
        f >= GROWTH_MIN_FAST_HOLDERS_PER_NEW_LAYER for f in fast_holder_counts
    )


def apply_grace_tick(state: UpgradeState, event: GraceTick) -> UpgradeState:
    if state.phase is not UpgradePhase.ANNOUNCED or event.at_s < state.grace_ends_s:
        return state
    if len(event.holder_counts) != len(state.new_layers) or len(event.fast_holder_counts) != len(
        state.new_layers
    ):
        raise ProtocolError(
            f"grace tick counts {len(event.holder_counts)} / {len(event.fast_holder_counts)} layers; "
            f"the upgrade adds {len(state.new_layers)}"
        )
    if are_new_layers_ready(event.holder_counts, event.fast_holder_counts, event.min_replicas):
        return replace(state, phase=UpgradePhase.ACTIVATED, activated_at_s=event.at_s)
    if state.extensions >= state.config.max_extensions:
        return replace(state, phase=UpgradePhase.ABORTED)
    return replace(
        state, extensions=state.extensions + 1, grace_ends_s=state.grace_ends_s + state.config.grace_s
    )


def apply_quorums_dissolved(state: UpgradeState, event: QuorumsDissolved) -> UpgradeState:
    if state.phase is not UpgradePhase.ACTIVATED:
        return state
    return replace(state, phase=UpgradePhase.REFORMING)


def apply_training_resumed(state: UpgradeState, event: TrainingResumed) -> UpgradeState:
    if state.phase is not UpgradePhase.REFORMING:
        return state
    return replace(state, phase=UpgradePhase.WARMUP, warmup_start_step=event.step)


def apply_training_progress(state: UpgradeState, event: TrainingProgress) -> UpgradeState:
    if state.phase is not UpgradePhase.WARMUP or state.warmup_start_step is None:
        return state
    if event.step - state.warmup_start_step >= state.config.warmup_steps:
        return replace(state, phase=UpgradePhase.STABLE)
    return state


def warmup_factor(steps_into_warmup: int, config: GrowthConfig | None = None) -> float:
    """0.1 at the first warm-up step, rising linearly to 1.0 after warmup_steps."""
    config = config or GrowthConfig()
    progress = min(1.0, max(0, steps_into_warmup) / config.warmup_steps)
    return config.warmup_start_lr_factor + (1.0 - config.warmup_start_lr_factor) * progress


def layer_learning_rate_factor(state: UpgradeState, layer: int, step: int) -> float:
    """Multiplier on a layer's learning rate (and reward) at `step`; 1.0 except new layers in warm-up."""
    if layer not in state.new_layers or state.phase in (UpgradePhase.STABLE, UpgradePhase.ABORTED):
        return 1.0
    if state.phase is not UpgradePhase.WARMUP or state.warmup_start_step is None:
        return state.config.warmup_start_lr_factor  # not training in its quorum yet
    return warmup_factor(step - state.warmup_start_step, state.config)


UpgradeEvent = GraceTick | QuorumsDissolved | TrainingResumed | TrainingProgress

_APPLY = {
    GraceTick: apply_grace_tick,
    QuorumsDissolved: apply_quorums_dissolved,
    TrainingResumed: apply_training_resumed,
    TrainingProgress: apply_training_progress,
}


def apply_upgrade_event(state: UpgradeState, event: UpgradeEvent) -> UpgradeState:
    return _APPLY[type(event)](state, event)  # type: ignore[operator]
