"""The blocked passes of robust aggregation over the long vectors.

Contributions stay separate arrays (never stacked: 10 × 3.1 M float32 is
120 MiB); each pass walks the coordinates in cache-sized blocks, copying one
block of every vector into a reused (n × C) buffer. Rows are in canonical
(node id) order and ties are always broken by row, lower row first, so every
holder drops the same values even when attackers send identical ones.

Nearest-neighbour mixing gives rows with the same neighbourhood the very same
coefficients, so their mixed values are equal by construction (with 10
honest contributions typically 7 distinct rows of 10). Such rows form a
group (RowGroups): mixed once, ranked once, each group counting as its size.
A group's rows take consecutive ranks in row order; values equal across
different groups are ordered by the groups' first rows. Without mixing every
group is one row and this is the plain row order.

The trimmed mean needs each value's rank in its column. A full sort of a
10-row column costs far more than counting: for small n the rank comes from
n(n−1)/2 vectorised comparisons (int8 counters); for large cohorts a stable
argsort does the same job. Both give identical ranks (tested), so the switch
point only moves time, never results. The trimmed mean's pass itself, laid
out once per thread, is aggregation_trimmed.py.

Every pass shares its blocks out among `threads` threads (BlockWorkers:
numpy and BLAS release the GIL while they work, so a second core helps as
long as each call is long next to the Python around it: measured 1.3–1.5×
here). Each block's work is the same whatever thread runs it and per-block
results are combined in block order, so the thread count never changes a bit
of the result. Measured costs: docs/PERFORMANCE_aggregation.md.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

# Above this many contributions the O(n²) comparison count loses to a sort.
RANK_BY_COMPARISON_MAX_ROWS = 32
# Weighted-median half-weight test tolerance: cumulative sums of normalised
# float64 weights may land a few ulps either side of exactly one half.
_HALF_WEIGHT_SLACK = 1e-9

PartResult = TypeVar("PartResult")


def trim_count_for(contribution_count: int, trim_fraction: float) -> int:
    """Values dropped at each end of every coordinate: ⌊fraction · n⌋ (0 below 5 at 20 %)."""
    # The epsilon keeps 0.2 · 15 from flooring to 2 should it round below 3.
    trim_count = math.floor(trim_fraction * contribution_count + 1e-9)
    return min(trim_count, (contribution_count - 1) // 2)


@dataclass(frozen=True, eq=False)
class RowGroups:
    """Rows with identical values by construction, groups numbered by first row.

    Equal values rank in group order: by group, then by row within the group.
    Work arrays hold the rows as `stored_rows`: each group's first row (in
    group order, so row g of a work array is group g), then the other rows.
    """

    group_of_row: np.ndarray  # (rows,) intp
    sizes: np.ndarray  # (groups,) int8 rows per group
    stored_rows: np.ndarray  # (rows,) intp: first rows, then the others by (group, row)

    @classmethod
    def of_identical_rows(cls, matrix: np.ndarray) -> RowGroups:
        """Group the rows of `matrix` (e.g. mixing coefficients) that are bitwise equal."""
        group_by_bytes: dict[bytes, int] = {}
        for row in matrix:
            group_by_bytes.setdefault(row.tobytes(), len(group_by_bytes))
        group_of_row = np.array(
            [group_by_bytes[row.tobytes()] for row in matrix], dtype=np.intp
        )
        first_rows = np.unique(group_of_row, return_index=True)[1]
        others = np.setdiff1d(np.arange(group_of_row.size), first_rows)
        others = others[np.argsort(group_of_row[others], kind="stable")]
        return cls(
            group_of_row=group_of_row,
            sizes=np.bincount(group_of_row).astype(np.int8),
            stored_rows=np.concatenate([first_rows, others]).astype(np.intp),
        )

    @property
    def first_rows(self) -> np.ndarray:
        """Each group's first row, in group order."""
        return self.stored_rows[: self.sizes.size]

    @functools.cached_property
    def extra_rows(self) -> list[tuple[int, int]]:
        """(group, place within the group) of each stored row after the first rows."""
        count = self.sizes.size
        groups = self.group_of_row[self.stored_rows[count:]]
        places = [
            int(np.count_nonzero(groups[: i + 1] == g)) for i, g in enumerate(groups)
        ]
        return list(zip(groups.tolist(), places))

    def expand(self, group_values: np.ndarray) -> np.ndarray:
        """(groups × C) values to one row per original row."""
        if self.sizes.size == self.group_of_row.size:
            return group_values
        return np.take(group_values, self.group_of_row, axis=0)


def column_ranks_by_sort(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, axis=0, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(values.shape[0])[:, None], axis=0)
    return ranks


def weighted_median_block(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted median of each column: the midpoint of the lowest value with at
    least half the weight at or below it and the highest value with at least
    half the weight at or above it (the usual median for equal weights)."""
    order = np.argsort(values, axis=0, kind="stable")
    sorted_values = np.take_along_axis(values, order, axis=0).astype(np.float64)
    sorted_weights = weights[order]
    at_or_below = np.cumsum(sorted_weights, axis=0)
    total = at_or_below[-1]
    at_or_above = total - at_or_below + sorted_weights
    half = 0.5 * total * (1.0 - _HALF_WEIGHT_SLACK)
    lower = np.argmax(at_or_below >= half, axis=0)
    rows = values.shape[0]
    upper = rows - 1 - np.argmax((at_or_above >= half)[::-1], axis=0)
    columns = np.arange(values.shape[1])
    midpoint = 0.5 * (sorted_values[lower, columns] + sorted_values[upper, columns])
    return midpoint.astype(np.float32)


class BlockWorkers:
    """`threads` worker threads for one aggregation, shared by its passes (a
    context manager); with one thread the caller does the work itself.

    Each pass hands every worker the same iterator of block starts, and a
    worker that is free takes the next block, so a thread the machine slows
    (a busy neighbour, a late start) simply does fewer blocks. The workers
    are started on entry, before the passes: started mid-pass, a thread
    waits for the GIL against a thread busy with numpy calls (measured up to
    6 ms, the interpreter's switch interval). Which thread runs a block never
    changes what the block computes, so the result does not depend on it.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> BlockWorkers:
        if self.threads > 1:
            self._pool = ThreadPoolExecutor(max_workers=self.threads)
            # Each waits for all: the pool must start every thread now.
            all_started = threading.Barrier(self.threads)
            for started in [
                self._pool.submit(all_started.wait) for _ in range(self.threads)
            ]:
                started.result()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def over_blocks(
        self,
        work: Callable[[Iterator[int]], PartResult],
        size: int,
        block_coordinates: int,
    ) -> list[PartResult]:
        """`work(starts)` on each worker, all drawing from one iterator of
        block starts (CPython's range iterator hands each start out once,
        under the GIL); one result per worker, in no particular order."""
        starts = iter(range(0, size, block_coordinates))
        if self._pool is None:
            return [work(starts)]
        workers = min(self.threads, max(1, -(-size // block_coordinates)))
        futures = [self._pool.submit(work, starts) for _ in range(workers)]
        return [future.result() for future in futures]


def blocks(
    vectors: Sequence[np.ndarray], block_coordinates: int, starts: Iterable[int]
) -> Iterator[tuple[slice, np.ndarray]]:
    """(slice, n × block float32 array) at the given starts, one buffer reused."""
    size = vectors[0].size
    buffer = np.empty(
        (len(vectors), min(block_coordinates, max(size, 1))), dtype=np.float32
    )
    for start in starts:
        stop = min(size, start + block_coordinates)
        block = buffer[:, : stop - start]
        for row, vector in enumerate(vectors):
            block[row] = vector[start:stop]
        yield slice(start, stop), block


def gram_matrix(
    vectors: Sequence[np.ndarray], block_coordinates: int, workers: BlockWorkers
) -> np.ndarray:
    """Pairwise dot products, float32 within a block, float64 across blocks
    (summed in block order, whichever thread took which block).

    One dot per pair and cache-sized slice, not `block @ block.T` on a copied
    block: for 10 vectors OpenBLAS's product was a third slower (measured 39
    against 23 ms per 3.1 M coordinates), and slices need no copy.
    """
    count = len(vectors)
    pairs = [(i, j) for i in range(count) for j in range(i, count)]
    size = vectors[0].size
    per_block = np.zeros((-(-size // block_coordinates), len(pairs)), dtype=np.float64)

    def dots(starts: Iterator[int]) -> None:
        # errstate is per thread: set it where the dots run.
        with np.errstate(over="ignore", invalid="ignore"):
            for start in starts:
                block = [v[start : start + block_coordinates] for v in vectors]
                sums = per_block[start // block_coordinates]
                for column, (i, j) in enumerate(pairs):
                    sums[column] = np.dot(block[i], block[j])

    workers.over_blocks(dots, size, block_coordinates)
    gram = np.zeros((count, count), dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        gram[np.triu_indices(count)] = per_block.sum(axis=0)
    upper = np.triu(gram, 1)
    return gram + upper.T


# OpenBLAS spreads a product over its threads once m·n·k exceeds 65536 × 4;
# for a 10 × 10 × 32768 product on a busy 2-core machine the hand-off cost 5×
# the arithmetic (measured: 112 ms against 17 ms per 3.1 M coordinates).
# Slices under the threshold stay on this thread. Results do not depend on it.
_SINGLE_THREAD_PRODUCT_SIZE = 65536 * 4


def mixing_slices(
    transform: np.ndarray, block: np.ndarray, out: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(transform, block slice, out slice) for each product `transform @ block`
    is cut into, every one below OpenBLAS's threading threshold."""
    rows, inputs = transform.shape
    columns = block.shape[1]
    step = max(64, _SINGLE_THREAD_PRODUCT_SIZE // (rows * inputs))
    return [
        (transform, block[:, start : start + step], out[:, start : start + step])
        for start in range(0, columns, step)
    ]


def transform_block(
    transform: np.ndarray, block: np.ndarray, buffer: np.ndarray
) -> np.ndarray:
    out = buffer[:, : block.shape[1]]
    for matrix, part, mixed in mixing_slices(transform, block, out):
        np.matmul(matrix, part, out=mixed)
    return out


def combine(
    vectors: Sequence[np.ndarray],
    coefficients: np.ndarray,
    block_coordinates: int,
    workers: BlockWorkers,
) -> np.ndarray:
    coefficients32 = coefficients.astype(np.float32)[None, :]
    size = vectors[0].size
    result = np.empty((1, size), dtype=np.float32)

    def combine_part(starts: Iterator[int]) -> None:
        for where, block in blocks(vectors, block_coordinates, starts):
            for matrix, part, out in mixing_slices(coefficients32, block, result[:, where]):
                np.matmul(matrix, part, out=out)

    workers.over_blocks(combine_part, size, block_coordinates)
    return result[0]
