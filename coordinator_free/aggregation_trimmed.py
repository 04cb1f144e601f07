"""The trimmed mean's blocked pass, planned once per thread.

For each block of coordinates: copy one slice of every contribution, mix
(NNM) into one row per group, rank each group's value in its column, keep
the ranks in [trim_count, rows − trim_count), weigh, sum, divide. The rules
(ties, groups, weights that stay with their values) are aggregation_kernels';
this module only decides how the numpy calls are laid out.

Everything a block needs that does not depend on its values is made once per
thread and width: the work arrays, every view of them the calls take, the
rank each row starts from, which comparisons count a group several times.
A block is then only its numpy calls (about 45 for 10 contributions). Set-up
per block cost ~100 µs before (measured on 256-coordinate blocks), and it is
time a thread holds the GIL: with two threads, every return from a numpy call
that finds the GIL taken waits for the other thread, so the second thread
gained only 10–25 % in this pass.

Other layout choices, each measured per 65,536-coordinate block:
- Comparisons are read as int8 (a bool is one byte, 0 or 1): numpy casts a
  bool operand of an int8 op element by element, which took twice the time
  of the op.
- Ranks start at −trim_count, so "kept" is one unsigned comparison of the
  int8 ranks (negative ones read as uint8 are ≥ 128) instead of three ops.
- Kept weights go into the block's copy buffer, dead once mixed: one array
  fewer in the caches.
- Kept counts (for the per-node "trimmed" share) add up in a uint8 array per
  thread, one call per block instead of one count per row, flushed every
  255 blocks before it could wrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coordinator_free.aggregation_kernels import (
    RANK_BY_COMPARISON_MAX_ROWS,
    RowGroups,
    column_ranks_by_sort,
    mixing_slices,
)

# Blocks a uint8 kept count can add up before it could wrap.
_BLOCKS_PER_COUNT_FLUSH = 255


class ComparisonRanks:
    """Ranks minus `offset` of the rows of a (rows × C) float32 array, ties by
    row; row g stands for sizes[g] equal values and gets the rank of the first.

    rank_j = Σ sizes of {i < j: x_i <= x_j} + of {l > j: x_l < x_j}: every
    row starts at the sizes of the rows above it and moves for each row above
    it that is larger, n(n−1)/2 vectorised comparisons in int8 counters.
    """

    def __init__(self, sizes: np.ndarray, offset: int, width: int) -> None:
        rows = sizes.size
        if int(sizes.sum()) + abs(offset) > 127:
            raise ValueError(
                f"int8 ranks hold at most 127 values, got {int(sizes.sum())} "
                f"(offset {offset}); use column_ranks_by_sort"
            )
        above = np.concatenate([[0], np.cumsum(sizes[:-1])]) - offset
        self.start = above.astype(np.int8)[:, None]
        self._compare = np.empty((max(rows - 1, 1), width), dtype=np.bool_)
        self._scaled = np.empty((max(rows - 1, 1), width), dtype=np.int8)
        self._counts = np.empty(width, dtype=np.int8)
        self._size_column = sizes.astype(np.int8)[:, None]
        size_list = sizes.tolist()
        # (row, later rows, does a later row stand for several values, own size)
        self._rows = [
            (row, rows - row - 1, any(s != 1 for s in size_list[row + 1 :]), size)
            for row, size in enumerate(size_list[:-1])
        ]

    def bind(self, values: np.ndarray, ranks: np.ndarray) -> list[tuple]:
        """The calls that rank `values` into `ranks` (same shape), as argument tuples."""
        columns = values.shape[1]
        steps = []
        for row, later, weighted, size in self._rows:
            smaller = self._compare[:later, :columns]
            scaled = self._scaled[:later, :columns]
            steps.append(
                (
                    values[row],
                    values[row + 1 :],
                    smaller,
                    smaller.view(np.int8),
                    scaled if weighted else None,
                    self._size_column[row + 1 :],
                    self._counts[:columns],
                    ranks[row],
                    size,
                    scaled,
                    ranks[row + 1 :],
                )
            )
        return steps

    def run(self, steps: list[tuple], ranks: np.ndarray) -> None:
        np.copyto(ranks, self.start)
        for (
            value,
            later_values,
            smaller,
            smaller8,
            weighted,
            later_sizes,
            counts,
            rank,
            size,
            scaled,
            later_ranks,
        ) in steps:
            np.greater(value, later_values, out=smaller)
            counted = smaller8
            if weighted is not None:
                # A later row standing for s values counts s times.
                counted = np.multiply(smaller8, later_sizes, out=weighted)
            np.add(rank, np.add.reduce(counted, axis=0, out=counts), out=rank)
            if size != 1:
                smaller8 = np.multiply(smaller8, size, out=scaled)
            np.subtract(later_ranks, smaller8, out=later_ranks)


def column_ranks_by_comparison(
    values: np.ndarray, sizes: np.ndarray | None = None, *, offset: int = 0
) -> np.ndarray:
    """Ranks minus `offset` of each row's value in its column (int8), ties by
    row; with `sizes`, row g stands for sizes[g] equal values."""
    sizes = np.ones(values.shape[0], dtype=np.int8) if sizes is None else sizes
    ranker = ComparisonRanks(sizes, offset, values.shape[1])
    ranks = np.empty(values.shape, dtype=np.int8)
    ranker.run(ranker.bind(values, ranks), ranks)
    return ranks


def ranks_of_stored_rows(
    group_values: np.ndarray, groups: RowGroups, *, offset: int = 0
) -> np.ndarray:
    """Ranks minus `offset` of the rows in `groups.stored_rows` order (equal
    values in group order): by comparisons up to RANK_BY_COMPARISON_MAX_ROWS
    rows, by a stable sort above (the same ranks, tested)."""
    rows, count = groups.group_of_row.size, groups.sizes.size
    if rows > RANK_BY_COMPARISON_MAX_ROWS:
        # A stable sort of the rows listed group by group, read back as stored.
        by_group = np.argsort(groups.group_of_row, kind="stable")
        ranks = column_ranks_by_sort(
            np.take(group_values, groups.group_of_row[by_group], axis=0)
        )
        place_in_by_group = np.argsort(by_group)
        return ranks[place_in_by_group[groups.stored_rows]] - offset
    ranks = np.empty((rows, group_values.shape[1]), dtype=np.int8)
    ranks[:count] = column_ranks_by_comparison(group_values, groups.sizes, offset=offset)
    # The other rows of a group follow its first one rank by rank.
    for index, (group, place) in enumerate(groups.extra_rows):
        np.add(ranks[group], place, out=ranks[count + index])
    return ranks


def trimmed_mean_block(
    group_values: np.ndarray,
    groups: RowGroups,
    weights: np.ndarray,
    trim_count: int,
    *,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of each column without its `trim_count` lowest and highest values.

    `group_values` holds one row per group of `groups`. Returns the column
    means (in `out` if given) and, per original row, how many of its values
    were dropped. `weights` (float32, one per original row) stay with their
    values: a dropped value takes its weight with it.
    """
    columns = group_values.shape[1]
    means = np.empty(columns, dtype=np.float32) if out is None else out
    one_pass = TrimmedMeanPass(
        transform=None,
        groups=groups,
        weights=weights,
        trim_count=trim_count,
        width=max(columns, 1),
    )
    one_pass.run(list(group_values), 0, means)
    return means, one_pass.dropped_by_row()


@dataclass(frozen=True, eq=False)
class _BlockViews:
    """Every view of one thread's work arrays that a block of one width takes."""

    block_rows: list[np.ndarray]  # one copy target per vector
    mixing: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # matmul arguments
    values: np.ndarray  # (groups × C) float32
    rank_steps: list[tuple] | None  # None: ranks by sort (large cohorts)
    ranks: np.ndarray  # (rows × C) int8, stored-row order, minus trim_count
    extra_ranks: list[tuple[np.ndarray, int, np.ndarray]]  # (first, place, other)
    kept: np.ndarray  # (rows × C) bool
    kept_weights: np.ndarray  # (rows × C) float32
    group_folds: list[tuple[np.ndarray, np.ndarray]]  # (first row, other row)
    kept_total: np.ndarray  # (C,) float32
    kept_weight: np.ndarray  # (C,) float32
    kept_counts: np.ndarray  # (rows × C) uint8


class TrimmedMeanPass:
    """One thread's trimmed mean, block by block; see the module docstring."""

    def __init__(
        self,
        *,
        transform: np.ndarray | None,
        groups: RowGroups,
        weights: np.ndarray,
        trim_count: int,
        width: int,
    ) -> None:
        """`transform`: (groups × contributions) float32 mixing rows, or None
        when the vectors `run` reads are the groups' values already;
        `weights`: float32, one per original row, in row order."""
        rows, count = groups.group_of_row.size, groups.sizes.size
        self._transform = transform
        self._groups = groups
        self._trim_count = trim_count
        self._kept_count = rows - 2 * trim_count
        self._weight_column = weights[groups.stored_rows][:, None]
        self._group_weights = np.bincount(groups.group_of_row, weights).astype(
            np.float32
        )
        self._weight_total = weights.sum(dtype=np.float32)
        self._ranker = (
            ComparisonRanks(groups.sizes, trim_count, width)
            if rows <= RANK_BY_COMPARISON_MAX_ROWS and trim_count > 0
            else None
        )
        # One row per contribution to mix from, or the groups' values as given.
        inputs = count if transform is None else transform.shape[1]
        self._block = np.empty((inputs, width), dtype=np.float32)
        self._values = (
            self._block if transform is None else np.empty((count, width), np.float32)
        )
        # The copy buffer is dead once mixed; unmixed, it holds the values.
        self._kept_weights = (
            np.empty((rows, width), np.float32) if transform is None else self._block
        )
        self._ranks = np.empty((rows, width), dtype=np.int8)
        self._kept = np.empty((rows, width), dtype=np.bool_)
        self._sums = np.empty((2, width), dtype=np.float32)
        self._kept_counts8 = np.zeros((rows, width), dtype=np.uint8)
        self._kept_counts = np.zeros(rows, dtype=np.int64)
        self._blocks_counted = 0
        self.coordinates = 0
        self._views: dict[int, _BlockViews] = {}

    def _views_for(self, columns: int) -> _BlockViews:
        views = self._views.get(columns)
        if views is not None:
            return views
        count = self._groups.sizes.size
        extra = list(enumerate(self._groups.extra_rows))
        block, values = self._block[:, :columns], self._values[:, :columns]
        ranks = self._ranks[:, :columns]
        kept_weights = self._kept_weights[:, :columns]
        views = _BlockViews(
            block_rows=list(block),
            mixing=[]
            if self._transform is None
            else mixing_slices(self._transform, block, values),
            values=values,
            rank_steps=None
            if self._ranker is None
            else self._ranker.bind(values, ranks[:count]),
            ranks=ranks,
            extra_ranks=[(ranks[g], place, ranks[count + i]) for i, (g, place) in extra],
            kept=self._kept[:, :columns],
            kept_weights=kept_weights,
            group_folds=[(kept_weights[g], kept_weights[count + i]) for i, (g, _) in extra],
            kept_total=self._sums[0, :columns],
            kept_weight=self._sums[1, :columns],
            kept_counts=self._kept_counts8[:, :columns],
        )
        self._views[columns] = views
        return views

    def run(self, vectors: Sequence[np.ndarray], start: int, out: np.ndarray) -> None:
        """The trimmed mean of coordinates start … start + out.size into `out`."""
        views = self._views_for(out.size)
        for row, vector in zip(views.block_rows, vectors):
            np.copyto(row, vector[start : start + out.size])
        for transform, part, mixed in views.mixing:
            np.matmul(transform, part, out=mixed)
        self.coordinates += out.size
        if self._trim_count == 0:
            np.divide(self._group_weights @ views.values, self._weight_total, out=out)
            return
        self._keep(views)
        self._weigh(views, out)
        np.add(views.kept_counts, views.kept.view(np.uint8), out=views.kept_counts)
        self._blocks_counted += 1
        if self._blocks_counted == _BLOCKS_PER_COUNT_FLUSH:
            self._flush_counts()

    def _keep(self, views: _BlockViews) -> None:
        if views.rank_steps is None:
            ranks = ranks_of_stored_rows(
                views.values, self._groups, offset=self._trim_count
            )
            np.greater_equal(ranks, 0, out=views.kept)
            np.logical_and(views.kept, ranks < self._kept_count, out=views.kept)
            return
        count = self._groups.sizes.size
        self._ranker.run(views.rank_steps, views.ranks[:count])
        for first, place, other in views.extra_ranks:
            np.add(first, place, out=other)
        np.less(views.ranks.view(np.uint8), self._kept_count, out=views.kept)

    def _weigh(self, views: _BlockViews, out: np.ndarray) -> None:
        kept_weights = views.kept_weights
        # 0/1 times the weight, not np.where: where() branches per element,
        # and on a random keep pattern took 102 ms per 3.1 M coordinates to
        # this 6. The 0/1 floats come from a uint8 view: a bool operand of a
        # float multiply is cast in small buffered chunks, ~15 % slower.
        np.copyto(kept_weights, views.kept.view(np.uint8), casting="unsafe")
        np.multiply(kept_weights, self._weight_column, out=kept_weights)
        # Rows of a group share their values: their kept weights join the
        # group's first row (np.add.reduceat over axis 0 was 30× slower).
        for first, other in views.group_folds:
            np.add(first, other, out=first)
        group_kept_weights = kept_weights[: self._groups.sizes.size]
        np.einsum("ij,ij->j", group_kept_weights, views.values, out=views.kept_total)
        np.sum(group_kept_weights, axis=0, out=views.kept_weight)
        np.divide(views.kept_total, views.kept_weight, out=out)

    def _flush_counts(self) -> None:
        self._kept_counts += self._kept_counts8.sum(axis=1, dtype=np.int64)
        self._kept_counts8[...] = 0
        self._blocks_counted = 0

    def dropped_by_row(self) -> np.ndarray:
        """Per original row, how many of its values the blocks so far dropped."""
        self._flush_counts()
        dropped = np.zeros(self._groups.group_of_row.size, dtype=np.int64)
        if self._trim_count > 0:
            dropped[self._groups.stored_rows] = self.coordinates - self._kept_counts
        return dropped
