"""Layer scarcity and which layers a joining node claims (DESIGN.md §14, §10).

Scarcity of a layer = (target − holders) / target below target, else 0;
× 1.5 for the first layer (it carries the embedding) and the last (it carries
the head); capped at 1. A one-layer model's only layer is both first and
last: it gets the factor once.

Claim rule (DESIGN says only "guided by scarcity"; this is the choice): a
node claims one contiguous range of min(max_layers, layer_count) layers — as
many as its memory allows, because longer ranges make quorums with fewer
hops — placed where the summed scarcity is largest; ties go to the range
with the fewest existing holders (spreading load once every layer is at
target), then to the lowest start. The ranking is computed in exact integers
(scarcity × 2·target), so equal ranges tie exactly rather than by rounding.
The same rule places a node's claim on new layers during a growth grace
period: new layers have no holders, so they are the scarcest.
"""

from __future__ import annotations

import numpy as np

from .constants import SCARCITY_CAP, SCARCITY_EDGE_LAYER_FACTOR
from .errors import ProtocolError
from .network_view import LayerRange

# Scarcity in integer units of 1 / (2·target): the edge factor 1.5 = 3/2 stays exact.
_EDGE_NUMERATOR, _EDGE_DENOMINATOR = SCARCITY_EDGE_LAYER_FACTOR.as_integer_ratio()


def _check_inputs(holder_counts: np.ndarray, target_replicas: int) -> np.ndarray:
    holders = np.asarray(holder_counts, dtype=np.int64)
    if holders.ndim != 1 or holders.size == 0:
        raise ProtocolError(f"holder_counts must be a non-empty 1-D array, got shape {holders.shape}")
    if target_replicas < 1:
        raise ProtocolError(f"target_replicas must be >= 1, got {target_replicas}")
    if (holders < 0).any():
        raise ProtocolError(f"holder counts must be >= 0, got minimum {int(holders.min())}")
    return holders


def _scarcity_units(holders: np.ndarray, target_replicas: int) -> np.ndarray:
    """Scarcity × (_EDGE_DENOMINATOR · target) as exact integers, capped."""
    shortfall = np.maximum(target_replicas - holders, 0)
    units = shortfall * _EDGE_DENOMINATOR
    units[0] = shortfall[0] * _EDGE_NUMERATOR
    units[-1] = shortfall[-1] * _EDGE_NUMERATOR
    cap_units = int(SCARCITY_CAP * _EDGE_DENOMINATOR * target_replicas)
    return np.minimum(units, cap_units)


def scarcity_scores(holder_counts: np.ndarray, target_replicas: int) -> np.ndarray:
    """Scarcity in [0, 1] of every layer, given each layer's holder count."""
    holders = _check_inputs(holder_counts, target_replicas)
    units = _scarcity_units(holders, target_replicas)
    return units / float(_EDGE_DENOMINATOR * target_replicas)


def scarcity_of_layer(layer: int, holder_counts: np.ndarray, target_replicas: int) -> float:
    """Scarcity of one layer (rewards use it per layer held)."""
    scores = scarcity_scores(holder_counts, target_replicas)
    if not 0 <= layer < scores.size:
        raise ProtocolError(f"layer {layer} is outside the model's {scores.size} layers")
    return float(scores[layer])


def choose_layer_claim(max_layers: int, holder_counts: np.ndarray, target_replicas: int) -> LayerRange | None:
    """The range a joining node should claim, or None if it can hold no layer."""
    holders = _check_inputs(holder_counts, target_replicas)
    if max_layers < 0:
        raise ProtocolError(f"max_layers must be >= 0, got {max_layers}")
    width = min(max_layers, holders.size)
    if width == 0:
        return None
    units = _scarcity_units(holders, target_replicas)
    scarcity_sums = _window_sums(units, width)
    holder_sums = _window_sums(holders, width)
    starts = np.arange(scarcity_sums.size)
    # lexsort: last key is primary. Most scarcity, then fewest holders, then lowest start.
    best = int(np.lexsort((starts, holder_sums, -scarcity_sums))[0])
    return LayerRange(best, best + width)


def _window_sums(values: np.ndarray, width: int) -> np.ndarray:
    cumulative = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    return cumulative[width:] - cumulative[:-width]
