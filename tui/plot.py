"""Text plots for a terminal: a braille line chart and a block sparkline.

A braille character is a 2 × 4 grid of dots, so a chart of w × h cells has
2w × 4h pixels. Each series is reduced to one y per pixel column (the mean
of the points falling in it), and consecutive columns are joined by a
vertical run of dots so a steep fall still reads as a line. This is
O(points + pixels) however long the history is, so a week of points plots as
fast as a minute of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

BRAILLE_BLANK = 0x2800
# Bit of the dot at (x, y) of a cell, x in 0..1 left to right, y in 0..3 top to bottom (Unicode braille order).
DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
LOG_SCALE_RATIO = 10.0  # plot y on a log scale when the values span at least this factor


@dataclass(frozen=True)
class Series:
    points: Sequence[tuple[float, float]]  # (x, y), x ascending
    style: str  # Rich style of its dots


@dataclass(frozen=True)
class Axes:
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    log_y: bool  # y on a log scale (then y_min > 0)


def choose_axes(series: Sequence[Series]) -> Axes | None:
    """Ranges covering every finite point; None when there is nothing to plot."""
    xs = [x for s in series for x, y in s.points if math.isfinite(y)]
    ys = [y for s in series for x, y in s.points if math.isfinite(y)]
    if not ys:
        return None
    y_min, y_max = min(ys), max(ys)
    log_y = y_min > 0 and y_max / y_min >= LOG_SCALE_RATIO
    if y_max == y_min:  # a flat line sits in the middle
        y_min, y_max = (y_min / 2, y_min * 2) if log_y or y_min > 0 else (y_min - 1, y_max + 1)
    return Axes(min(xs), max(xs), y_min, y_max, log_y)


def _pixel_rows(series: Series, axes: Axes, columns: int, rows: int) -> list[int | None]:
    """For each pixel column, the pixel row (0 at the top) of the series' mean there, or None."""
    sums = [0.0] * columns
    counts = [0] * columns
    x_span = (axes.x_max - axes.x_min) or 1.0
    for x, y in series.points:
        if not math.isfinite(y) or (axes.log_y and y <= 0):
            continue
        column = min(columns - 1, int((x - axes.x_min) / x_span * columns))
        sums[column] += math.log(y) if axes.log_y else y
        counts[column] += 1
    low, high = (math.log(axes.y_min), math.log(axes.y_max)) if axes.log_y else (axes.y_min, axes.y_max)
    span = (high - low) or 1.0
    return [None if not count else round((high - total / count) / span * (rows - 1))
            for total, count in zip(sums, counts)]


def _line_runs(pixel_rows: list[int | None]) -> list[tuple[int, int, int]]:
    """(column, first row, last row) of dots joining the known rows by straight lines across gaps."""
    runs: list[tuple[int, int, int]] = []
    previous: tuple[int, int] | None = None  # (column, row) of the last known point
    for column, row in enumerate(pixel_rows):
        if row is None:
            continue
        if previous is None:
            runs.append((column, row, row))
        else:
            last_column, last_row = previous
            reached = last_row
            for step_column in range(last_column + 1, column + 1):
                fraction = (step_column - last_column) / (column - last_column)
                target = round(last_row + (row - last_row) * fraction)
                runs.append((step_column, min(reached, target), max(reached, target)))
                reached = target
        previous = (column, row)
    return runs


def plot_braille(series: Sequence[Series], axes: Axes, *, width_cells: int, height_cells: int) -> list[Text]:
    """The chart as `height_cells` lines of `width_cells` braille characters; later series draw on top."""
    columns, rows = 2 * width_cells, 4 * height_cells
    bits = [[0] * width_cells for _ in range(height_cells)]
    styles: list[list[str]] = [[""] * width_cells for _ in range(height_cells)]
    for one in series:
        for column, low, high in _line_runs(_pixel_rows(one, axes, columns, rows)):
            for pixel_row in range(low, high + 1):
                cell_row, cell_column = pixel_row // 4, column // 2
                bits[cell_row][cell_column] |= DOT_BITS[column % 2][pixel_row % 4]
                styles[cell_row][cell_column] = one.style
    lines = []
    for bit_row, style_row in zip(bits, styles):
        line = Text()
        for value, style in zip(bit_row, style_row):
            line.append(chr(BRAILLE_BLANK + value), style=style or None)
        lines.append(line)
    return lines


def sparkline(values: Sequence[float], width: int) -> str:
    """The last values as block characters, one per value (or per bucket when there are more than width)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite or width <= 0:
        return ""
    if len(finite) > width:
        size = len(finite) / width
        finite = [sum(chunk) / len(chunk) for chunk in
                  (finite[int(i * size):max(int(i * size) + 1, int((i + 1) * size))] for i in range(width))]
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - low) / span * top)] for v in finite)
