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
  Vectors NNM mixes alike (same neighbourhood) are equal and are mixed and
  ranked once, as a group; equal values of different groups are ordered by
  the groups' first rows (aggregation_kernels).

Also available: plain weighted mean, coordinate-wise weighted median,
Krum / Multi-Krum (f = 20 %), geometric median (smoothed Weiszfeld), each with
or without the clip and NNM pre-steps.

Everything that only needs distances runs on the n × n Gram matrix
(aggregation_distances.py): clipping, NNM, Krum and Weiszfeld never touch the
long vectors; the blocked passes over them live in aggregation_kernels.py and,
for the trimmed mean, aggregation_trimmed.py. A
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

from coordinator_free.aggregation_distances import (
    clip_scales,
    krum_selection,
    mixing_matrix,
    weiszfeld_coefficients,
)
from coordinator_free.aggregation_kernels import (
    BlockWorkers,
    RowGroups,
    blocks,
    combine,
    gram_matrix,
    transform_block,
    trim_count_for,
    weighted_median_block,
)
from coordinator_free.aggregation_trimmed import TrimmedMeanPass
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
    # Pre-steps, in this order: scale long vectors down, then mix (NNM).
    clip_to_median_norm: bool = True
    nearest_neighbour_mixing: bool = True
    # × the median norm, dimensionless
    clip_median_norm_factor: float = CLIP_MEDIAN_NORM_FACTOR
    # share of contributions dropped at each end of every coordinate
    trim_fraction: float = TRIM_FRACTION
    # share of contributions Krum / Multi-Krum assume Byzantine
    byzantine_fraction: float = BYZANTINE_FRACTION
    # Weiszfeld steps at most, and the stop/smoothing share of the RMS distance
    geometric_median_max_iterations: int = GEOMETRIC_MEDIAN_MAX_ITERATIONS
    geometric_median_relative_tolerance: float = GEOMETRIC_MEDIAN_RELATIVE_TOLERANCE
    # coordinates per block, to keep a block in cache; results change only
    # by float rounding (the Gram matrix is summed per block)
    block_coordinates: int = 1 << 16
    # coordinates per slice of the Gram pass (pairwise dots need no copy, so
    # longer slices only save calls: 262,144 measured fastest on 2 threads)
    gram_block_coordinates: int = 1 << 18
    # threads that walk the blocks; the result does not depend on it (each
    # block's work is the same on any thread, block results join in order)
    threads: int = 2


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
    """The aggregate and who counted how: what the dashboard and sync logs show."""

    vector: np.ndarray  # float32 aggregate
    method: AggregationMethod
    node_ids: tuple[NodeId, ...]  # usable contributions, canonical order
    weights: tuple[float, ...]  # their normalised weights, same order
    # left out wholly: unusable (NaN, inf, overflow) or not selected by Krum
    excluded_node_ids: tuple[NodeId, ...]
    # trimmed mean only: share of coordinates where the node's value was dropped
    trimmed_fraction_by_node: dict[NodeId, float] = field(default_factory=dict)
    # factor norm clipping applied (1.0 = untouched)
    clip_scale_by_node: dict[NodeId, float] = field(default_factory=dict)


def aggregate(
    contributions: Iterable[Contribution], config: AggregationConfig = DEFAULT_CONFIG
) -> AggregationResult:
    """Aggregate one cohort's contributions; see the module docstring."""
    ordered = _canonical(contributions)
    if min(config.threads, config.block_coordinates, config.gram_block_coordinates) < 1:
        raise ProtocolError(
            "aggregation needs threads, block_coordinates and gram_block_coordinates "
            f"≥ 1, got {config.threads}, {config.block_coordinates} and "
            f"{config.gram_block_coordinates}"
        )
    with BlockWorkers(config.threads) as workers:
        return _aggregate_on(workers, ordered, config)


def _aggregate_on(
    workers: BlockWorkers, ordered: list[Contribution], config: AggregationConfig
) -> AggregationResult:
    gram_all = gram_matrix(
        [c.vector for c in ordered], config.gram_block_coordinates, workers
    )
    usable = np.isfinite(np.diag(gram_all))
    if not usable.any():
        raise ProtocolError(
            f"none of the {len(ordered)} contributions is usable (all have NaN, inf "
            "or overflowing values); skip this sync round"
        )
    unusable_ids = tuple(c.node_id for c, ok in zip(ordered, usable) if not ok)
    kept = [c for c, ok in zip(ordered, usable) if ok]
    node_ids = tuple(c.node_id for c in kept)
    vectors = [c.vector for c in kept]
    weights = np.array(normalised_weights([c.weight for c in kept]))
    scales, transform, gram = _pre_steps(
        gram_all[np.ix_(usable, usable)], weights, config
    )
    trimmed: dict[NodeId, float] = {}
    not_selected: tuple[NodeId, ...] = ()
    if config.method in (AggregationMethod.TRIMMED_MEAN, AggregationMethod.MEDIAN):
        vector, dropped_share = _coordinate_wise(
            vectors, transform, weights, config, workers
        )
        if config.method is AggregationMethod.TRIMMED_MEAN:
            trimmed = dict(zip(node_ids, (float(s) for s in dropped_share)))
    else:
        coefficients, selected = _linear_coefficients(gram, weights, config)
        not_selected = tuple(n for n, s in zip(node_ids, selected) if not s)
        vector = combine(
            vectors, coefficients @ transform, config.block_coordinates, workers
        )
    return AggregationResult(
        vector=vector,
        method=config.method,
        node_ids=node_ids,
        weights=tuple(float(w) for w in weights),
        excluded_node_ids=unusable_ids + not_selected,
        trimmed_fraction_by_node=trimmed,
        clip_scale_by_node=dict(zip(node_ids, (float(s) for s in scales))),
    )


def normalised_weights(raw_weights: Sequence[float]) -> tuple[float, ...]:
    """Weights that sum to 1, bit-reproducible: `math.fsum` in the given order."""
    if not raw_weights or any(not (math.isfinite(w) and w > 0) for w in raw_weights):
        raise ProtocolError(
            f"weights must be a non-empty list of finite values > 0, got {list(raw_weights)}"
        )
    total = math.fsum(raw_weights)
    return tuple(w / total for w in raw_weights)


def _pre_steps(
    gram: np.ndarray, weights: np.ndarray, config: AggregationConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip scales, the transform (row i: vector i after clip and mix, as
    coefficients over the inputs) and the Gram matrix of the transformed vectors."""
    count = gram.shape[0]
    scales = np.ones(count)
    if config.clip_to_median_norm:
        scales = clip_scales(gram, config.clip_median_norm_factor)
    clipped_gram = gram * np.outer(scales, scales)
    mixing = np.eye(count)
    if config.nearest_neighbour_mixing:
        mixing = mixing_matrix(clipped_gram, weights)
    return scales, mixing * scales[None, :], mixing @ clipped_gram @ mixing.T


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


def _coordinate_wise(
    vectors: Sequence[np.ndarray],
    transform: np.ndarray,
    weights: np.ndarray,
    config: AggregationConfig,
    workers: BlockWorkers,
) -> tuple[np.ndarray, np.ndarray]:
    count = len(vectors)
    is_identity = np.array_equal(transform, np.eye(count))
    # Rows mixed alike are equal: mix and rank each such group once.
    groups = RowGroups.of_identical_rows(transform)
    transform32 = transform[groups.first_rows].astype(np.float32)
    weights32 = weights.astype(np.float32)
    trim_count = trim_count_for(count, config.trim_fraction)
    size = vectors[0].size
    result = np.empty(size, dtype=np.float32)
    width = min(config.block_coordinates, max(size, 1))

    def median_part(starts: Iterator[int]) -> np.ndarray:
        mixed = np.empty((groups.sizes.size, width), dtype=np.float32)
        for where, block in blocks(vectors, config.block_coordinates, starts):
            values = block if is_identity else transform_block(transform32, block, mixed)
            result[where] = weighted_median_block(groups.expand(values), weights)
        return np.zeros(count, dtype=np.int64)

    def trimmed_mean_part(starts: Iterator[int]) -> np.ndarray:
        part = TrimmedMeanPass(
            transform=None if is_identity else transform32,
            groups=groups,
            weights=weights32,
            trim_count=trim_count,
            width=width,
        )
        for start in starts:
            part.run(vectors, start, result[start : start + config.block_coordinates])
        return part.dropped_by_row()

    reduce_part = (
        median_part if config.method is AggregationMethod.MEDIAN else trimmed_mean_part
    )
    dropped_by_part = workers.over_blocks(reduce_part, size, config.block_coordinates)
    return result, sum(dropped_by_part) / max(size, 1)


def _linear_coefficients(
    gram: np.ndarray, weights: np.ndarray, config: AggregationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients over the (clipped, mixed) vectors, and which were selected."""
    if config.method is AggregationMethod.MEAN:
        return weights, np.ones(len(weights), dtype=bool)
    if config.method is AggregationMethod.GEOMETRIC_MEDIAN:
        coefficients = weiszfeld_coefficients(
            gram,
            weights,
            max_iterations=config.geometric_median_max_iterations,
            relative_tolerance=config.geometric_median_relative_tolerance,
        )
        return coefficients, np.ones(len(weights), dtype=bool)
    multi = config.method is AggregationMethod.MULTI_KRUM
    selected = krum_selection(gram, config.byzantine_fraction, multi=multi)
    coefficients = np.where(selected, weights, 0.0)
    return coefficients / math.fsum(coefficients), selected
