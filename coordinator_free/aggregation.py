"""Robust, weighted aggregation of a cohort's pseudo-gradients (DESIGN §9).

Every holder of a layer runs this over the same contributions and must reach
the same answer, so the first step is a canonical order: contributions are
sorted by node id, weights are normalised with `math.fsum` in that order
(bit-identical on every IEEE machine), and every tie below is broken by that
order. The result never depends on the order the contributions arrived in.

The default is the pipeline **clip → nearest-neighbour mixing → trimmed mean**:

- *Norm clipping* (§15 "magnitude checks"): a vector longer than
  `CLIP_MEDIAN_NORM_FACTOR` × the median norm is scaled down to that length.
  Without it NNM + trimmed mean falls to 3–4 of 10 large Gaussian attackers
  (measured in tests/coordinator_free/test_attacks.py: loss × 500–5000); the
  factor 2 leaves honest vectors alone almost always. DESIGN.md names NNM +
  trimmed mean as the default; the clip is this module's addition.
- *NNM* (Allouah et al. 2023): each vector is replaced by the weighted mean of
  its nearest strict majority (⌊n/2⌋ + 1 vectors, itself included). A
  majority is the largest neighbourhood that still excludes every attacker
  when attackers are a minority; smaller `n − f` (f = 20 %) neighbourhoods
  lost to "a little is enough" with 4 of 10 attackers.
- *Trimmed mean*: per coordinate the ⌊0.2·n⌋ lowest and highest values are
  dropped *by count* and the rest averaged with the weights they carry. Count,
  not weight mass, decides what is dropped, so a node cannot keep an extreme
  value in by claiming more batches. Below 5 contributions nothing is trimmed.

Also available: plain weighted mean, coordinate-wise weighted median,
Krum / Multi-Krum (f = 20 %), geometric median (smoothed Weiszfeld), each with
or without the clip and NNM pre-steps.

Everything that only needs distances runs on the n × n Gram matrix (float64,
accumulated from float32 blocks): clipping, NNM, Krum and Weiszfeld never
touch the long vectors; one more blocked pass then applies the result. A
contribution whose Gram diagonal is not finite (NaN, inf or overflow) is left
out and reported, never raised: a misbehaving peer is data. The aggregate is
bit-reproducible on one build; across CPUs BLAS rounding may differ in the
last bits (only the weights are promised bit-identical everywhere).
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from coordinator_free.aggregation_kernels import (
    trim_count_for,
    trimmed_mean_block,
    weighted_median_block,
)
from coordinator_free.constants import (
    BYZANTINE_FRACTION,
    CLIP_MEDIAN_NORM_FACTOR,
    GEOMETRIC_MEDIAN_MAX_ITERATIONS,
    GEOMETRIC_MEDIAN_RELATIVE_TOLERANCE,
    TRIM_FRACTION,
)
from coordinator_free.errors import ProtocolError
from coordinator_free.types import NodeId


class AggregationMethod(enum.Enum):
    MEAN = "mean"
    TRIMMED_MEAN = "trimmed_mean"
    MEDIAN = "median"
    KRUM = "krum"
    MULTI_KRUM = "multi_krum"
    GEOMETRIC_MEDIAN = "geometric_median"


@dataclass(frozen=True)
class AggregationConfig:
    method: AggregationMethod = AggregationMethod.TRIMMED_MEAN
    clip_to_median_norm: bool = True  # scale long vectors down before anything else
    nearest_neighbour_mixing: bool = True  # NNM pre-step
    clip_median_norm_factor: float = (
        CLIP_MEDIAN_NORM_FACTOR  # × median norm, dimensionless
    )
    trim_fraction: float = TRIM_FRACTION  # share of contributions dropped at each end
    byzantine_fraction: float = BYZANTINE_FRACTION  # assumed by Krum / Multi-Krum
    geometric_median_max_iterations: int = (
        GEOMETRIC_MEDIAN_MAX_ITERATIONS  # Weiszfeld steps
    )
    geometric_median_relative_tolerance: float = (
        GEOMETRIC_MEDIAN_RELATIVE_TOLERANCE  # of the spread
    )
    block_coordinates: int = (
        1 << 15
    )  # coordinates per block: keeps a block in cache; no effect on results


DEFAULT_CONFIG = AggregationConfig()
PLAIN_MEAN_CONFIG = AggregationConfig(
    method=AggregationMethod.MEAN,
    clip_to_median_norm=False,
    nearest_neighbour_mixing=False,
)


@dataclass(frozen=True, eq=False)
class Contribution:
    node_id: NodeId
    vector: np.ndarray  # flat float32 pseudo-gradient
    weight: float  # unnormalised, > 0 (diloco.contribution_weight)


@dataclass(frozen=True, eq=False)
class AggregationResult:
    vector: np.ndarray  # float32 aggregate
    method: AggregationMethod
    node_ids: tuple[NodeId, ...]  # usable contributions, canonical order
    weights: tuple[float, ...]  # their normalised weights, same order
    excluded_node_ids: tuple[
        NodeId, ...
    ]  # left out wholly: unusable, or not selected by Krum
    trimmed_fraction_by_node: dict[NodeId, float] = field(
        default_factory=dict
    )  # share of coordinates dropped
    clip_scale_by_node: dict[NodeId, float] = field(
        default_factory=dict
    )  # 1.0 = not clipped


def aggregate(
    contributions: Iterable[Contribution], config: AggregationConfig = DEFAULT_CONFIG
) -> AggregationResult:
    """Aggregate one cohort's contributions; see the module docstring."""
    ordered = _canonical(contributions)
    gram_all = _gram([c.vector for c in ordered], config.block_coordinates)
    usable = np.isfinite(np.diag(gram_all))
    unusable_ids = tuple(c.node_id for c, ok in zip(ordered, usable) if not ok)
    if not usable.any():
        raise ProtocolError(
            f"none of the {len(ordered)} contributions is usable (all have NaN, inf or "
            "overflowing values); skip this sync round"
        )
    kept = [c for c, ok in zip(ordered, usable) if ok]
    gram = gram_all[np.ix_(usable, usable)]
    weights = _normalised([c.weight for c in kept])
    scales = (
        _clip_scales(gram, config) if config.clip_to_median_norm else np.ones(len(kept))
    )
    gram = gram * np.outer(scales, scales)
    mixing = (
        _mixing_matrix(gram, weights)
        if config.nearest_neighbour_mixing
        else np.eye(len(kept))
    )
    mixed_gram = mixing @ gram @ mixing.T
    transform = (
        mixing * scales[None, :]
    )  # row i: coefficients of vector i after clip + mix
    node_ids = tuple(c.node_id for c in kept)
    vectors = [c.vector for c in kept]
    method = config.method
    trimmed: dict[NodeId, float] = {}
    not_selected: tuple[NodeId, ...] = ()
    if method in (AggregationMethod.TRIMMED_MEAN, AggregationMethod.MEDIAN):
        vector, dropped_share = _coordinate_wise(vectors, transform, weights, config)
        if method is AggregationMethod.TRIMMED_MEAN:
            trimmed = dict(zip(node_ids, (float(s) for s in dropped_share)))
    else:
        coefficients, selected = _linear_coefficients(mixed_gram, weights, config)
        not_selected = tuple(n for n, s in zip(node_ids, selected) if not s)
        vector = _combine(vectors, coefficients @ transform, config.block_coordinates)
    return AggregationResult(
        vector=vector,
        method=method,
        node_ids=node_ids,
        weights=tuple(float(w) for w in weights),
        excluded_node_ids=unusable_ids + not_selected,
        trimmed_fraction_by_node=trimmed,
        clip_scale_by_node=dict(zip(node_ids, (float(s) for s in scales))),
    )


def _canonical(contributions: Iterable[Contribution]) -> list[Contribution]:
    ordered = sorted(contributions, key=lambda c: c.node_id)
    if not ordered:
        raise ProtocolError(
            "no contributions to aggregate; a sync round needs at least one"
        )
    first = ordered[0].vector
    for previous, current in itertools.pairwise(ordered):
        if previous.node_id == current.node_id:
            raise ProtocolError(
                f"node {current.node_id} contributed twice; keep one contribution per node"
            )
    for c in ordered:
        if (
            not isinstance(c.vector, np.ndarray)
            or c.vector.dtype != np.float32
            or c.vector.ndim != 1
        ):
            raise ProtocolError(
                f"contribution of {c.node_id} must be a flat float32 numpy array, got "
                f"{type(c.vector).__name__} {getattr(c.vector, 'dtype', '?')} {getattr(c.vector, 'shape', '?')}"
            )
        if c.vector.shape != first.shape:
            raise ProtocolError(
                f"contribution of {c.node_id} has {c.vector.size} values but {ordered[0].node_id}'s has "
                f"{first.size}; all holders of a layer send vectors of the layer's size"
            )
        if not (math.isfinite(c.weight) and c.weight > 0):
            raise ProtocolError(
                f"weight of {c.node_id} must be finite and > 0, got {c.weight}"
            )
    return ordered


def _normalised(raw: Sequence[float]) -> np.ndarray:
    total = math.fsum(raw)
    return np.array([w / total for w in raw], dtype=np.float64)


def _blocks(
    vectors: Sequence[np.ndarray], block_coordinates: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """(slice, n × block float32 array) over the coordinates, one buffer reused."""
    size = vectors[0].size
    buffer = np.empty(
        (len(vectors), min(block_coordinates, max(size, 1))), dtype=np.float32
    )
    for start in range(0, size, block_coordinates):
        stop = min(size, start + block_coordinates)
        block = buffer[:, : stop - start]
        for row, vector in enumerate(vectors):
            block[row] = vector[start:stop]
        yield slice(start, stop), block


def _gram(vectors: Sequence[np.ndarray], block_coordinates: int) -> np.ndarray:
    """Pairwise dot products, float32 within a block, float64 across blocks.

    One dot per pair and cache-sized slice, not `block @ block.T` on a copied
    block: for 10 vectors OpenBLAS's product was a third slower (measured 39
    against 26 ms per 3.1 M coordinates), and slices need no copy.
    """
    count = len(vectors)
    gram = np.zeros((count, count), dtype=np.float64)
    pairs = [(i, j) for i in range(count) for j in range(i, count)]
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, vectors[0].size, block_coordinates):
            block = [vector[start : start + block_coordinates] for vector in vectors]
            for i, j in pairs:
                gram[i, j] += float(np.dot(block[i], block[j]))
    upper = np.triu(gram, 1)
    return gram + upper.T


def _squared_distances(gram: np.ndarray) -> np.ndarray:
    diagonal = np.diag(gram)
    distances = diagonal[:, None] + diagonal[None, :] - 2.0 * gram
    np.fill_diagonal(distances, 0.0)
    return np.maximum(
        distances, 0.0
    )  # rounding can make near-equal vectors slightly negative


def _clip_scales(gram: np.ndarray, config: AggregationConfig) -> np.ndarray:
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    limit = config.clip_median_norm_factor * float(np.median(norms))
    with np.errstate(divide="ignore"):
        return np.where(norms > limit, limit / np.where(norms > 0, norms, 1.0), 1.0)


def _nearest(distances: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` nearest per row; ties go to the lower (canonical) index."""
    return np.argsort(distances, axis=1, kind="stable")[:, :count]


def _mixing_matrix(gram: np.ndarray, weights: np.ndarray) -> np.ndarray:
    count = gram.shape[0]
    neighbours = _nearest(_squared_distances(gram), count // 2 + 1)
    mixing = np.zeros((count, count), dtype=np.float64)
    for row, chosen in enumerate(neighbours):
        mixing[row, chosen] = weights[chosen] / math.fsum(weights[chosen])
    return mixing


def _coordinate_wise(
    vectors: Sequence[np.ndarray],
    transform: np.ndarray,
    weights: np.ndarray,
    config: AggregationConfig,
) -> tuple[np.ndarray, np.ndarray]:
    count = len(vectors)
    is_identity = np.array_equal(transform, np.eye(count))
    transform32 = transform.astype(np.float32)
    weights32 = weights.astype(np.float32)
    trim_count = trim_count_for(count, config.trim_fraction)
    result = np.empty(vectors[0].size, dtype=np.float32)
    dropped = np.zeros(count, dtype=np.int64)
    mixed = np.empty((count, config.block_coordinates), dtype=np.float32)
    for where, block in _blocks(vectors, config.block_coordinates):
        values = block if is_identity else _transform_block(transform32, block, mixed)
        if config.method is AggregationMethod.MEDIAN:
            result[where] = weighted_median_block(values, weights)
        else:
            result[where], dropped_here = trimmed_mean_block(
                values, weights32, trim_count
            )
            dropped += dropped_here
    return result, dropped / max(result.size, 1)


# OpenBLAS spreads a product over its threads once m·n·k exceeds 65536 × 4;
# for a 10 × 10 × 32768 product on a busy 2-core machine the hand-off cost 5×
# the arithmetic (measured: 112 ms against 17 ms per 3.1 M coordinates).
# Slices under the threshold stay on this thread. Results do not depend on it.
_SINGLE_THREAD_PRODUCT_SIZE = 65536 * 4


def _transform_block(
    transform: np.ndarray, block: np.ndarray, buffer: np.ndarray
) -> np.ndarray:
    rows, columns = block.shape
    out = buffer[:, :columns]
    step = max(64, _SINGLE_THREAD_PRODUCT_SIZE // (rows * rows))
    for start in range(0, columns, step):
        np.matmul(
            transform, block[:, start : start + step], out=out[:, start : start + step]
        )
    return out


def _linear_coefficients(
    gram: np.ndarray, weights: np.ndarray, config: AggregationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients over the (clipped, mixed) vectors, and which were selected."""
    count = gram.shape[0]
    everyone = np.ones(count, dtype=bool)
    if config.method is AggregationMethod.MEAN:
        return weights, everyone
    if config.method is AggregationMethod.GEOMETRIC_MEDIAN:
        return _weiszfeld(gram, weights, config), everyone
    byzantine = math.floor(config.byzantine_fraction * count)
    scores = _krum_scores(_squared_distances(gram), max(1, count - byzantine - 2))
    order = np.argsort(scores, kind="stable")
    keep = 1 if config.method is AggregationMethod.KRUM else max(1, count - byzantine)
    selected = np.zeros(count, dtype=bool)
    selected[order[:keep]] = True
    coefficients = np.where(selected, weights, 0.0)
    return coefficients / math.fsum(coefficients), selected


def _krum_scores(distances: np.ndarray, neighbour_count: int) -> np.ndarray:
    count = distances.shape[0]
    if count == 1:
        return np.zeros(1)
    others = np.where(np.eye(count, dtype=bool), np.inf, distances)
    return np.sort(others, axis=1)[:, : min(neighbour_count, count - 1)].sum(axis=1)


def _weiszfeld(
    gram: np.ndarray, weights: np.ndarray, config: AggregationConfig
) -> np.ndarray:
    """Smoothed Weiszfeld in coefficient space: z = Σ α_i x_i, so
    ‖x_i − z‖² = G_ii − 2 (Gα)_i + αᵀGα needs only the Gram matrix."""
    alpha = weights.copy()
    spread = math.sqrt(max(float(np.mean(_squared_distances(gram))), 0.0))
    if spread == 0.0:
        return alpha
    smoothing = config.geometric_median_relative_tolerance * spread
    for _ in range(config.geometric_median_max_iterations):
        squared = np.diag(gram) - 2.0 * (gram @ alpha) + float(alpha @ gram @ alpha)
        distances = np.sqrt(np.maximum(squared, 0.0))
        beta = weights / np.maximum(distances, smoothing)
        updated = beta / beta.sum()
        moved = math.sqrt(max(float((updated - alpha) @ gram @ (updated - alpha)), 0.0))
        alpha = updated
        if moved <= smoothing:
            break
    return alpha


def _combine(
    vectors: Sequence[np.ndarray], coefficients: np.ndarray, block_coordinates: int
) -> np.ndarray:
    coefficients32 = coefficients.astype(np.float32)
    result = np.empty(vectors[0].size, dtype=np.float32)
    for where, block in _blocks(vectors, block_coordinates):
        result[where] = coefficients32 @ block
    return result
