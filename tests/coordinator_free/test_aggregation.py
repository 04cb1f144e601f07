"""Robust aggregation: exact small cases, properties, reports and refusals."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator_free.aggregation import (
    DEFAULT_CONFIG,
    PLAIN_MEAN_CONFIG,
    AggregationConfig,
    AggregationMethod,
    Contribution,
    aggregate,
)
from coordinator_free.aggregation_kernels import (
    RowGroups,
    column_ranks_by_sort,
    trim_count_for,
)
from coordinator_free.aggregation_trimmed import (
    column_ranks_by_comparison,
    ranks_of_stored_rows,
    trimmed_mean_block,
)
from coordinator_free.errors import ProtocolError
from coordinator_free.types import NodeId

TRIMMED_ONLY = AggregationConfig(
    clip_to_median_norm=False, nearest_neighbour_mixing=False
)
MEDIAN_ONLY = AggregationConfig(
    method=AggregationMethod.MEDIAN,
    clip_to_median_norm=False,
    nearest_neighbour_mixing=False,
)
EVERY_CONFIG = [
    AggregationConfig(
        method=method, clip_to_median_norm=clip, nearest_neighbour_mixing=mix
    )
    for method in AggregationMethod
    for clip in (False, True)
    for mix in (False, True)
]


def contributions_from(rows, weights=None) -> list[Contribution]:
    rows = np.asarray(rows, dtype=np.float32)
    weights = [1.0] * len(rows) if weights is None else weights
    return [
        Contribution(NodeId(f"node-{index:03d}"), rows[index], float(weights[index]))
        for index in range(len(rows))
    ]


# ------------------------------------------------------------- exact cases


def test_plain_mean_is_the_weighted_mean():
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    result = aggregate(contributions_from(rows, [1, 1, 2, 4]), PLAIN_MEAN_CONFIG)
    np.testing.assert_allclose(
        result.vector, np.average(rows, axis=0, weights=[1, 1, 2, 4]), rtol=1e-6
    )
    assert result.weights == (0.125, 0.125, 0.25, 0.5)


def test_trimmed_mean_drops_by_count_and_weights_leave_with_their_values():
    # Five values, one trimmed at each end. The heavy node sits at the top
    # and is dropped with its weight, so the rest average plainly.
    rows = [[0.0], [1.0], [2.0], [3.0], [100.0]]
    result = aggregate(contributions_from(rows, [1, 1, 1, 1, 50]), TRIMMED_ONLY)
    assert result.vector[0] == pytest.approx(2.0)
    # The same heavy weight on a surviving value pulls the mean to it.
    result = aggregate(contributions_from(rows, [1, 1, 1, 50, 1]), TRIMMED_ONLY)
    assert result.vector[0] == pytest.approx((1 + 2 + 3 * 50) / 52)


@pytest.mark.parametrize("count", [10, 40])  # 40 takes the sort-based rank path
def test_trimmed_mean_with_equal_weights_is_the_sorted_slice_mean(count):
    rows = np.random.default_rng(1).standard_normal((count, 257)).astype(np.float32)
    result = aggregate(contributions_from(rows), TRIMMED_ONLY)
    trim = count // 5
    expected = np.sort(rows, axis=0)[trim : count - trim].mean(axis=0)
    np.testing.assert_allclose(result.vector, expected, rtol=1e-5, atol=1e-6)


def test_trim_count_is_twenty_percent_of_the_count_rounded_down():
    assert [trim_count_for(n, 0.2) for n in (1, 4, 5, 9, 10, 14, 15, 100)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        20,
    ]


def test_small_cohorts_are_not_trimmed():
    rows = [[0.0], [1.0], [2.0], [97.0]]
    assert aggregate(contributions_from(rows), TRIMMED_ONLY).vector[0] == pytest.approx(
        25.0
    )


def test_report_names_who_was_trimmed():
    rows = (
        np.zeros((10, 50), dtype=np.float32)
        + np.arange(10, dtype=np.float32)[:, None] * 0.01
    )
    rows[3] = 1e3  # far above everyone on every coordinate
    result = aggregate(contributions_from(rows), TRIMMED_ONLY)
    trimmed = result.trimmed_fraction_by_node
    assert trimmed[NodeId("node-003")] == 1.0
    assert trimmed[NodeId("node-005")] == 0.0  # a middle value is never trimmed
    assert sum(trimmed.values()) == pytest.approx(4.0)  # 2 low + 2 high per coordinate


def test_median_with_equal_weights_is_the_usual_median():
    rows = np.random.default_rng(2).standard_normal((10, 101)).astype(np.float32)
    result = aggregate(contributions_from(rows), MEDIAN_ONLY)
    np.testing.assert_allclose(result.vector, np.median(rows, axis=0), rtol=1e-6)
    odd = aggregate(contributions_from(rows[:7]), MEDIAN_ONLY)
    np.testing.assert_array_equal(odd.vector, np.median(rows[:7], axis=0))


def test_weighted_median_follows_the_weight():
    rows = [[0.0], [1.0], [2.0]]
    assert aggregate(contributions_from(rows, [1, 1, 5]), MEDIAN_ONLY).vector[0] == 2.0


def test_krum_picks_the_central_vector_and_multi_krum_leaves_out_the_far_ones():
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((10, 20)).astype(np.float32) * 0.1
    rows[[2, 7]] += 50.0
    krum = aggregate(
        contributions_from(rows),
        AggregationConfig(
            method=AggregationMethod.KRUM,
            clip_to_median_norm=False,
            nearest_neighbour_mixing=False,
        ),
    )
    assert len(krum.excluded_node_ids) == 9
    assert np.abs(krum.vector).max() < 1.0
    multi = aggregate(
        contributions_from(rows),
        AggregationConfig(
            method=AggregationMethod.MULTI_KRUM,
            clip_to_median_norm=False,
            nearest_neighbour_mixing=False,
        ),
    )
    assert set(multi.excluded_node_ids) == {NodeId("node-002"), NodeId("node-007")}


def test_geometric_median_of_points_on_a_line_is_their_median():
    rows = [[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]]
    result = aggregate(
        contributions_from(rows),
        AggregationConfig(
            method=AggregationMethod.GEOMETRIC_MEDIAN,
            clip_to_median_norm=False,
            nearest_neighbour_mixing=False,
        ),
    )
    np.testing.assert_allclose(result.vector, [1.0, 0.0], atol=1e-4)


def test_geometric_median_resists_one_far_point():
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((9, 30)).astype(np.float32) * 0.01 + 1.0
    rows[0] = 1e4
    result = aggregate(
        contributions_from(rows),
        AggregationConfig(
            method=AggregationMethod.GEOMETRIC_MEDIAN,
            clip_to_median_norm=False,
            nearest_neighbour_mixing=False,
        ),
    )
    assert np.abs(result.vector - 1.0).max() < 0.05


def test_clipping_scales_a_long_vector_to_twice_the_median_norm():
    rows = np.ones((5, 4), dtype=np.float32)
    rows[4] *= 1000.0
    result = aggregate(
        contributions_from(rows),
        AggregationConfig(
            method=AggregationMethod.MEAN, nearest_neighbour_mixing=False
        ),
    )
    assert result.clip_scale_by_node[NodeId("node-004")] == pytest.approx(2.0 / 1000.0)
    assert result.clip_scale_by_node[NodeId("node-000")] == 1.0
    np.testing.assert_allclose(result.vector, (4 + 2) / 5 * np.ones(4), rtol=1e-6)


def test_nearest_neighbour_mixing_keeps_a_far_vector_out_of_honest_neighbourhoods():
    rows = np.zeros((5, 3), dtype=np.float32)
    rows[:4] = [[1, 0, 0], [1.1, 0, 0], [0.9, 0, 0], [1.0, 0.1, 0]]
    rows[4] = [-50, 50, 50]
    mixed_mean = aggregate(
        contributions_from(rows),
        AggregationConfig(method=AggregationMethod.MEDIAN, clip_to_median_norm=False),
    )
    np.testing.assert_allclose(mixed_mean.vector, [1.0, 0.0333, 0.0], atol=0.05)


# ------------------------------------------------------------------ refusals


def test_unusable_contributions_are_left_out_and_reported():
    rows = np.ones((6, 4), dtype=np.float32)
    rows[1, 2] = np.nan
    rows[4, 0] = np.inf
    rows[5, 1] = 3e38  # finite, but its squared norm overflows
    result = aggregate(contributions_from(rows), DEFAULT_CONFIG)
    assert result.excluded_node_ids == (
        NodeId("node-001"),
        NodeId("node-004"),
        NodeId("node-005"),
    )
    assert result.node_ids == (
        NodeId("node-000"),
        NodeId("node-002"),
        NodeId("node-003"),
    )
    np.testing.assert_allclose(result.vector, np.ones(4))


def test_all_unusable_fails_closed():
    with pytest.raises(ProtocolError, match="none of the 2 contributions is usable"):
        aggregate(contributions_from([[np.nan], [np.inf]]))


@pytest.mark.parametrize(
    ("contributions", "message"),
    [
        ([], "no contributions"),
        (
            [Contribution(NodeId("a"), np.zeros(3, np.float32), 1.0)] * 2,
            "contributed twice",
        ),
        ([Contribution(NodeId("a"), np.zeros(3, np.float64), 1.0)], "flat float32"),
        (
            [Contribution(NodeId("a"), np.zeros((3, 1), np.float32), 1.0)],
            "flat float32",
        ),
        (
            [
                Contribution(NodeId("a"), np.zeros(3, np.float32), 1.0),
                Contribution(NodeId("b"), np.zeros(4, np.float32), 1.0),
            ],
            "has 4 values",
        ),
        ([Contribution(NodeId("a"), np.zeros(3, np.float32), 0.0)], "weight of a"),
        ([Contribution(NodeId("a"), np.zeros(3, np.float32), math.nan)], "weight of a"),
    ],
)
def test_malformed_input_is_refused(contributions, message):
    with pytest.raises(ProtocolError, match=message):
        aggregate(contributions)


# ---------------------------------------------------------------- properties

cohort_rows = st.integers(1, 12).flatmap(
    lambda count: st.lists(
        st.lists(st.floats(-1e3, 1e3, width=32), min_size=3, max_size=3),
        min_size=count,
        max_size=count,
    )
)
cohort_weights = st.lists(st.floats(0.1, 50.0), min_size=12, max_size=12)


@settings(max_examples=40, deadline=None)
@given(
    rows=cohort_rows, weights=cohort_weights, permutation_seed=st.integers(0, 2**32 - 1)
)
def test_every_method_is_independent_of_contribution_order(
    rows, weights, permutation_seed
):
    contributions = contributions_from(rows, weights[: len(rows)])
    shuffled = [
        contributions[i]
        for i in np.random.default_rng(permutation_seed).permutation(len(contributions))
    ]
    for config in EVERY_CONFIG:
        first, second = aggregate(contributions, config), aggregate(shuffled, config)
        np.testing.assert_array_equal(first.vector, second.vector)
        assert first.weights == second.weights
        assert first.excluded_node_ids == second.excluded_node_ids
        assert first.trimmed_fraction_by_node == second.trimmed_fraction_by_node


@settings(max_examples=60, deadline=None)
@given(
    honest=st.integers(5, 20).flatmap(
        lambda count: st.lists(
            st.lists(st.floats(-10, 10, width=32), min_size=4, max_size=4),
            min_size=count,
            max_size=count,
        )
    ),
    outlier_values=st.lists(st.floats(-1e6, 1e6, width=32), min_size=4, max_size=4),
    outlier_share=st.floats(0.0, 0.999),
    weights=st.lists(st.floats(0.1, 30.0), min_size=30, max_size=30),
)
def test_trimmed_mean_stays_within_the_honest_range_below_twenty_percent_outliers(
    honest, outlier_values, outlier_share, weights
):
    honest = np.asarray(honest, dtype=np.float32)
    # Fewer than 20 % outliers: f < 0.2 · (h + f)  ⇔  f < h / 4.
    max_outliers = math.ceil(len(honest) / 4) - 1
    outliers = np.tile(
        np.asarray(outlier_values, dtype=np.float32),
        (int(outlier_share * (max_outliers + 1)), 1),
    )
    rows = np.concatenate([honest, outliers])
    assert len(outliers) < 0.2 * len(rows)
    result = aggregate(
        contributions_from(rows, weights[: len(rows)]), TRIMMED_ONLY
    ).vector
    slack = 1e-5 * (
        1.0 + np.abs(honest).max(axis=0)
    )  # float32 rounding of a weighted mean
    assert np.all(result >= honest.min(axis=0) - slack)
    assert np.all(result <= honest.max(axis=0) + slack)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(2, 40).flatmap(
        lambda count: st.lists(
            st.lists(st.integers(-3, 3), min_size=6, max_size=6),
            min_size=count,
            max_size=count,
        )
    )
)
def test_both_rank_kernels_agree_even_with_ties(rows):
    values = np.asarray(rows, dtype=np.float32)
    np.testing.assert_array_equal(
        column_ranks_by_comparison(values), column_ranks_by_sort(values)
    )


@settings(max_examples=60, deadline=None)
@given(
    data=st.integers(2, 30).flatmap(
        lambda rows: st.tuples(
            st.lists(st.integers(0, 5), min_size=rows, max_size=rows),
            st.lists(
                st.lists(st.integers(-2, 2), min_size=7, max_size=7),
                min_size=6,
                max_size=6,
            ),
        )
    )
)
def test_grouped_ranks_equal_the_ranks_of_the_rows_they_stand_for(data):
    # Rows that share a group share their values; ranking each group once
    # must give every row the rank a full sort gives (ties by group order).
    labels, group_pool = data
    groups = RowGroups.of_identical_rows(np.asarray(labels, dtype=np.float64)[:, None])
    group_values = np.asarray(group_pool, dtype=np.float32)[: groups.sizes.size]
    group_values = np.resize(group_values, (groups.sizes.size, 7))
    # Listed group by group, a stable sort's ties fall in group order.
    by_group = np.argsort(groups.group_of_row, kind="stable")
    expected = column_ranks_by_sort(
        np.take(group_values, groups.group_of_row[by_group], axis=0)
    )
    stored_place = np.argsort(by_group)[groups.stored_rows]
    np.testing.assert_array_equal(
        ranks_of_stored_rows(group_values, groups), expected[stored_place]
    )


def test_a_grouped_trimmed_mean_is_the_trimmed_mean_of_the_expanded_rows():
    rng = np.random.default_rng(9)
    labels = np.array([0, 1, 2, 1, 3, 0, 4, 5, 5, 6, 1], dtype=np.float64)[:, None]
    groups = RowGroups.of_identical_rows(labels)
    assert groups.sizes.tolist() == [2, 3, 1, 1, 1, 2, 1]
    group_values = rng.standard_normal((7, 500)).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, 11).astype(np.float32)
    singles = RowGroups.of_identical_rows(np.arange(11.0)[:, None])
    for trim_count in (0, 1, 2, 3):
        grouped_mean, grouped_dropped = trimmed_mean_block(
            group_values, groups, weights, trim_count
        )
        # Rows in row order as singletons: group ties (none here) aside, the same.
        row_mean, row_dropped = trimmed_mean_block(
            groups.expand(group_values), singles, weights, trim_count
        )
        np.testing.assert_allclose(grouped_mean, row_mean, rtol=2e-6, atol=1e-7)
        np.testing.assert_array_equal(grouped_dropped, row_dropped)


def test_block_size_does_not_change_the_result():
    rows = np.random.default_rng(5).standard_normal((10, 1000)).astype(np.float32)
    whole = aggregate(contributions_from(rows), DEFAULT_CONFIG).vector
    blocked = aggregate(
        contributions_from(rows),
        AggregationConfig(block_coordinates=7, gram_block_coordinates=5),
    ).vector
    np.testing.assert_allclose(whole, blocked, rtol=1e-6, atol=1e-7)


def test_trimmed_shares_count_past_the_blocks_a_uint8_counter_holds():
    # Kept counts add up per block in uint8 and are flushed every 255 blocks:
    # 700 one-coordinate blocks where the middle six rows are kept every time
    # would wrap a counter flushed any later (their shares would not be 0).
    rng = np.random.default_rng(4)
    rows = np.arange(10, dtype=np.float32)[:, None] + rng.uniform(
        0, 0.5, (10, 700)
    ).astype(np.float32)
    contributions = contributions_from(rows, np.linspace(1.0, 2.0, 10))
    one_block = aggregate(contributions, TRIMMED_ONLY)
    many_blocks = aggregate(
        contributions, dataclasses.replace(TRIMMED_ONLY, block_coordinates=1, threads=1)
    )
    # (einsum sums a wide block in SIMD lanes, a one-wide one plainly)
    np.testing.assert_allclose(one_block.vector, many_blocks.vector, rtol=1e-6)
    shares = many_blocks.trimmed_fraction_by_node
    assert shares == one_block.trimmed_fraction_by_node
    assert [shares[NodeId(f"node-{i:03d}")] for i in range(10)] == [1.0] * 2 + [
        0.0
    ] * 6 + [1.0] * 2


@pytest.mark.parametrize("config", EVERY_CONFIG, ids=lambda c: f"{c.method.value}")
def test_thread_count_does_not_change_a_bit_of_the_result(config):
    rng = np.random.default_rng(8)
    rows = rng.standard_normal((11, 5000)).astype(np.float32)
    rows[9] = rows[3]  # a tie in every column
    contributions = contributions_from(rows, np.linspace(1.0, 3.0, 11))
    blocked = dataclasses.replace(
        config, block_coordinates=300, gram_block_coordinates=700, threads=1
    )
    alone = aggregate(contributions, blocked)
    for threads in (2, 3, 17, 64):
        shared = aggregate(contributions, dataclasses.replace(blocked, threads=threads))
        np.testing.assert_array_equal(alone.vector, shared.vector)
        assert shared.trimmed_fraction_by_node == alone.trimmed_fraction_by_node
        assert shared.excluded_node_ids == alone.excluded_node_ids


@pytest.mark.parametrize(
    "field", ["threads", "block_coordinates", "gram_block_coordinates"]
)
def test_a_config_without_threads_or_blocks_is_refused(field):
    config = dataclasses.replace(DEFAULT_CONFIG, **{field: 0})
    with pytest.raises(ProtocolError, match=field):
        aggregate(contributions_from(np.ones((3, 4))), config)


def test_identical_contributions_are_tie_broken_by_node_id_in_any_arrival_order():
    # Colluding nodes send the same vector: every tie (ranks, neighbours, Krum
    # scores) must go the same way for every holder, whatever arrived first.
    rng = np.random.default_rng(6)
    rows = rng.standard_normal((10, 64)).astype(np.float32)
    rows[6:] = rows[6]
    weights = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 0.5, 4.0, 1.5, 2.5]
    contributions = contributions_from(rows, weights)
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(10)
        shuffled = [contributions[i] for i in order]
        for config in EVERY_CONFIG:
            first, second = (
                aggregate(contributions, config),
                aggregate(shuffled, config),
            )
            np.testing.assert_array_equal(first.vector, second.vector)
            assert first.excluded_node_ids == second.excluded_node_ids
            assert first.trimmed_fraction_by_node == second.trimmed_fraction_by_node
