"""Cutting the model into pipeline stages: valid, and even in time where possible."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator_free.network_view import LayerRange
from coordinator_free.pipeline_layout import (
    balanced_bottleneck_ms,
    balanced_cuts,
    balanced_stages,
    bottleneck_ms,
    bottleneck_ms_of_cuts,
)


def ranges(*pairs: tuple[int, int]) -> list[LayerRange]:
    return [LayerRange(a, b) for a, b in pairs]


@pytest.mark.parametrize(
    ("held", "speeds", "layers", "expected"),
    [
        # equal speeds, full holders: 11 layers as evenly as rounding allows
        (ranges((0, 11), (0, 11), (0, 11)), [10.0] * 3, 11, ranges((0, 4), (4, 7), (7, 11))),
        # twice as fast gets twice the layers
        (ranges((0, 12), (0, 12)), [5.0, 10.0], 12, ranges((0, 8), (8, 12))),
        # targets clamped by what each member holds
        (ranges((0, 3), (0, 11)), [10.0, 10.0], 11, ranges((0, 3), (3, 11))),
        (ranges((0, 11), (9, 11)), [10.0, 10.0], 11, ranges((0, 9), (9, 11))),
        # one member runs everything
        (ranges((0, 5)), [10.0], 5, ranges((0, 5))),
        # one layer each, exactly
        (ranges((0, 3), (0, 3), (0, 3)), [1.0, 50.0, 1.0], 3, ranges((0, 1), (1, 2), (2, 3))),
    ],
)
def test_balanced_stages(
    held: list[LayerRange], speeds: list[float], layers: int, expected: list[LayerRange]
) -> None:
    assert list(balanced_stages(held, speeds, layers) or ()) == expected


@pytest.mark.parametrize(
    ("held", "layers"),
    [
        (ranges((1, 11)), 11),  # nobody runs layer 0
        (ranges((0, 10)), 11),  # nobody runs the last layer
        (ranges((0, 11), (4, 6)), 11),  # the nested member would leave a gap after it
        (ranges((0, 4), (6, 11)), 11),  # a hole between members
        (ranges((0, 2), (0, 2), (0, 2)), 2),  # more members than layers
        ([], 3),
    ],
)
def test_impossible_orders_have_no_stages(held: list[LayerRange], layers: int) -> None:
    assert balanced_stages(held, [10.0] * len(held), layers) is None


def test_bottleneck_is_the_slowest_stage() -> None:
    assert bottleneck_ms(ranges((0, 4), (4, 6)), [10.0, 30.0]) == 60.0


def reference_cuts(held: list[LayerRange], speeds: list[float], layers: int) -> list[int] | None:
    """The rule as the module docstring states it, written plainly (balanced_cuts is tuned)."""
    count = len(held)
    if count == 0 or count > layers or held[0].start > 0 or held[-1].stop < layers:
        return None
    latest = [0] * count
    latest[-1] = layers
    for index in range(count - 2, -1, -1):
        latest[index] = min(held[index].stop, latest[index + 1] - 1)
    shares = [1.0 / speed for speed in speeds]
    cuts = [0]
    for index in range(count - 1):
        target = math.floor(layers * sum(shares[: index + 1]) / sum(shares) + 0.5)
        earliest = max(cuts[-1] + 1, held[index + 1].start)
        if earliest > latest[index]:
            return None
        cuts.append(min(max(target, earliest), latest[index]))
    return [*cuts, layers]


@st.composite
def orders(draw: st.DrawFn) -> tuple[list[LayerRange], list[float], int]:
    layers = draw(st.integers(1, 40))
    count = draw(st.integers(1, 6))
    held = []
    for _ in range(count):  # mostly wide ranges, so that most orders have a cut
        start = draw(st.one_of(st.just(0), st.integers(0, layers // 2), st.integers(0, layers - 1)))
        stop = draw(st.one_of(st.just(layers), st.integers((layers + 1) // 2, layers)))
        held.append(LayerRange(start, max(stop, start + 1)))
    speeds = draw(st.lists(st.sampled_from((3.0, 7.5, 20.0, 60.0, 333.0)), min_size=count, max_size=count))
    return held, speeds, layers


@settings(max_examples=400, deadline=None)
@given(order=orders())
def test_balanced_cuts_match_the_plain_statement_of_the_rule(order: tuple) -> None:
    held, speeds, layers = order
    cuts = reference_cuts(held, speeds, layers)
    assert balanced_cuts(held, speeds, layers) == cuts
    expected_ms = None if cuts is None else bottleneck_ms_of_cuts(cuts, speeds)
    assert balanced_bottleneck_ms(held, speeds, layers) == expected_ms
