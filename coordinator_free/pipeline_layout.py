"""Which layers each quorum member runs: cutting the model into pipeline stages.

Given the members in pipeline order, each with the layers it holds and its
speed, choose cut points 0 = c₀ < c₁ < … < c_k = L so that member i runs
[c_{i-1}, c_i), a non-empty run inside what it holds. Among the valid cuts,
aim at stages whose run time (layers × ms per layer) is even: the target
share of member i is proportional to its speed (1 / ms per layer), and each
cut is clamped into its feasible interval.

Feasibility in O(k): a backward pass gives the latest each cut may be (its
member's last held layer, and one before the next cut's latest); a forward
pass takes each target, clamped between one past the previous cut (and the
next member's first held layer) and that latest. If a forward step finds its
interval empty, no cut exists for this order. Used by quorum formation and by
replacement, so a quorum's layer map always comes from this one rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .network_view import LayerRange


def balanced_stages(
    held: Sequence[LayerRange], speeds_ms_per_layer: Sequence[float], layer_count: int
) -> tuple[LayerRange, ...] | None:
    """The run of layers each member executes, in order, or None if this order cannot cover [0, L)."""
    cuts = balanced_cuts(held, speeds_ms_per_layer, layer_count)
    if cuts is None:
        return None
    return tuple(LayerRange(cuts[i], cuts[i + 1]) for i in range(len(cuts) - 1))


def balanced_cuts(
    held: Sequence[LayerRange], speeds_ms_per_layer: Sequence[float], layer_count: int
) -> list[int] | None:
    """The cut points c₀ = 0 < c₁ < … < c_k = L of `balanced_stages`, or None.

    Formation calls this for every trial order (hundreds of thousands of
    times in a simulated day): one pass each way, no intermediate lists.
    """
    count = len(held)
    if count == 0 or count > layer_count or held[0].start > 0 or held[-1].stop < layer_count:
        return None
    latest = [layer_count] * count  # the latest each cut may be
    bound = layer_count
    for index in range(count - 2, -1, -1):
        bound = min(bound - 1, held[index].stop)
        latest[index] = bound
    speeds_per_ms = [1.0 / speed for speed in speeds_ms_per_layer]
    total_speed = sum(speeds_per_ms)
    cuts = [0]
    cut, running_speed = 0, 0.0
    for index in range(count - 1):
        running_speed += speeds_per_ms[index]
        target = math.floor(layer_count * running_speed / total_speed + 0.5)
        earliest = max(cut + 1, held[index + 1].start)
        bound = latest[index]
        if earliest > bound:
            return None
        cut = earliest if target < earliest else min(target, bound)
        cuts.append(cut)
    cuts.append(layer_count)
    return cuts


def bottleneck_ms(stages: Sequence[LayerRange], speeds_ms_per_layer: Sequence[float]) -> float:
    """The slowest stage's time per micro-batch: what limits the pipeline's throughput."""
    return max(len(stage) * speed for stage, speed in zip(stages, speeds_ms_per_layer, strict=True))


def bottleneck_ms_of_cuts(cuts: Sequence[int], speeds_ms_per_layer: Sequence[float]) -> float:
    """`bottleneck_ms` of the stages these cuts make, without making them."""
    return max((cuts[i + 1] - cuts[i]) * speed for i, speed in enumerate(speeds_ms_per_layer))


def balanced_bottleneck_ms(
    held: Sequence[LayerRange], speeds_ms_per_layer: Sequence[float], layer_count: int
) -> float | None:
    """`bottleneck_ms_of_cuts(balanced_cuts(...))` in one pass, or None when no cut exists.

    Formation scores every trial order by this alone; the same comparisons
    and arithmetic as balanced_cuts, without building the cut list.
    """
    count = len(held)
    if count == 0 or count > layer_count or held[0].start > 0 or held[-1].stop < layer_count:
        return None
    # The same comparisons as balanced_cuts written as branches (no min/max calls: this is
    # formation's innermost loop); ints compare exactly, and a float max is the larger value.
    latest = [layer_count] * count
    bound = layer_count
    for index in range(count - 2, -1, -1):
        bound -= 1
        stop = held[index].stop
        if stop < bound:
            bound = stop
        latest[index] = bound
    speeds_per_ms = [1.0 / speed for speed in speeds_ms_per_layer]
    total_speed = sum(speeds_per_ms)
    cut, running_speed, slowest_ms = 0, 0.0, 0.0
    for index in range(count - 1):
        running_speed += speeds_per_ms[index]
        target = math.floor(layer_count * running_speed / total_speed + 0.5)
        earliest = held[index + 1].start
        if earliest <= cut:
            earliest = cut + 1
        bound = latest[index]
        if earliest > bound:
            return None
        following = earliest if target < earliest else (target if target < bound else bound)
        stage_ms = (following - cut) * speeds_ms_per_layer[index]
        if stage_ms > slowest_ms:
            slowest_ms = stage_ms
        cut = following
    last_ms = (layer_count - cut) * speeds_ms_per_layer[-1]
    return last_ms if last_ms > slowest_ms else slowest_ms
