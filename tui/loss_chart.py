"""The loss chart: training and validation loss over time, in braille, with its axes."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from agent.api.schema import MetricPoint

from .format import format_span
from .plot import Axes, Series, choose_axes, plot_braille

LOSS_STYLE = "dodger_blue1"
VALIDATION_STYLE = "orange1"
Y_LABEL_CHARS = 7  # room for "12.3456" or "1.2e-03"


def _y_label(value: float) -> str:
    text = f"{value:.4g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.1e}"
    return text[:Y_LABEL_CHARS].rjust(Y_LABEL_CHARS)


def _middle_s(point: MetricPoint) -> float:
    """Where a downsampled point belongs on the time axis: the middle of the span it covers."""
    start_s = point.time_s if point.start_time_s is None else point.start_time_s
    return (start_s + point.time_s) / 2


class LossChart(Widget):
    """Draws whatever points it was last given, scaled to its size; time runs left to right."""

    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 3; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._loss: list[tuple[float, float]] = []
        self._validation: list[tuple[float, float]] = []

    @property
    def point_count(self) -> int:
        """Training-loss points plotted (tests and the benchmark read this)."""
        return len(self._loss)

    def set_points(self, points: tuple[MetricPoint, ...]) -> None:
        self._loss = [(_middle_s(p), p.loss) for p in points if p.loss is not None]
        self._validation = [(_middle_s(p), p.validation_loss) for p in points if p.validation_loss is not None]
        self.refresh()

    def render(self) -> RenderResult:
        width, height = self.size
        series = [Series(self._loss, LOSS_STYLE), Series(self._validation, VALIDATION_STYLE)]
        axes = choose_axes(series)
        if axes is None or width <= Y_LABEL_CHARS + 2 or height < 2:
            return Text("no training steps yet", style="dim")
        plot_width, plot_height = width - Y_LABEL_CHARS - 1, height - 1
        lines = plot_braille(series, axes, width_cells=plot_width, height_cells=plot_height)
        output = Text()
        for index, line in enumerate(lines):
            label = " " * Y_LABEL_CHARS
            if index == 0:
                label = _y_label(axes.y_max)
            elif index == plot_height - 1:
                label = _y_label(axes.y_min)
            output.append(label + "│", style="dim")
            output.append(line)
            output.append("\n")
        output.append(self._x_axis(axes, plot_width))
        return output

    def _x_axis(self, axes: Axes, plot_width: int) -> Text:
        span = format_span(axes.x_max - axes.x_min)
        legend = Text.assemble(("loss", LOSS_STYLE), " ", ("val", VALIDATION_STYLE),
                               (" log" if axes.log_y else "", "dim"))
        left, right = f"-{span}", "latest"
        gap = plot_width - len(left) - legend.cell_len - len(right)
        if gap < 2:  # narrow: the legend matters more than saying where "now" is
            right, gap = "", gap + len(right)
        gap = max(2, gap)
        return Text.assemble(" " * Y_LABEL_CHARS + " ", (left, "dim"), " " * (gap // 2), legend,
                             " " * (gap - gap // 2), (right, "dim"))
