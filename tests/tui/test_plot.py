"""Braille plot and sparkline: lines stay connected, log scale when loss spans decades, sizes are exact."""

from __future__ import annotations

import math

from tui.plot import BRAILLE_BLANK, Series, choose_axes, plot_braille, sparkline


def dot_columns(lines) -> set[int]:
    """Pixel columns that hold at least one dot."""
    columns = set()
    for line in lines:
        for cell, char in enumerate(line.plain):
            bits = ord(char) - BRAILLE_BLANK
            if bits & 0x47:  # left column dots
                columns.add(2 * cell)
            if bits & 0xB8:  # right column dots
                columns.add(2 * cell + 1)
    return columns


def test_a_sparse_series_is_drawn_as_a_connected_line():
    series = [Series([(0.0, 5.0), (10.0, 1.0)], "red")]  # two points far apart
    axes = choose_axes(series)
    lines = plot_braille(series, axes, width_cells=20, height_cells=5)
    assert len(lines) == 5 and all(len(line.plain) == 20 for line in lines)
    assert dot_columns(lines) == set(range(40))
    assert lines[0].plain[0] != chr(BRAILLE_BLANK) and lines[-1].plain[-1] != chr(BRAILLE_BLANK)


def test_loss_spanning_decades_is_plotted_on_a_log_scale():
    assert choose_axes([Series([(0.0, 5.6), (1.0, 0.01)], "x")]).log_y
    assert not choose_axes([Series([(0.0, 5.6), (1.0, 2.0)], "x")]).log_y


def test_nothing_to_plot_gives_no_axes_and_a_flat_line_gets_room():
    assert choose_axes([Series([], "x"), Series([(0.0, math.nan)], "y")]) is None
    axes = choose_axes([Series([(0.0, 2.0), (1.0, 2.0)], "x")])
    assert axes.y_min < 2.0 < axes.y_max


def test_thousands_of_points_reduce_to_the_width():
    points = [(float(i), 1.0 + math.sin(i / 100)) for i in range(4096)]
    lines = plot_braille([Series(points, "x")], choose_axes([Series(points, "x")]), width_cells=30, height_cells=4)
    assert [len(line.plain) for line in lines] == [30] * 4
    assert dot_columns(lines) == set(range(60))


def test_later_series_colour_shared_cells():
    series = [Series([(0.0, 1.0), (1.0, 1.0)], "blue"), Series([(0.0, 1.0)], "orange")]
    lines = plot_braille(series, choose_axes(series), width_cells=4, height_cells=2)
    styles = {str(span.style) for line in lines for span in line.spans}
    assert styles == {"blue", "orange"}


def test_sparkline_scales_between_the_lowest_and_highest_block():
    assert sparkline([1, 2, 3], 10) == "▁▅█"
    assert len(sparkline(list(range(100)), 8)) == 8
    assert sparkline([], 5) == "" and sparkline([4, 4], 3) == "▁▁"
