"""Training: step, loss, validation loss, throughput, inner step and next sync, checkpoint age, loss chart."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from agent.api.schema import MetricPoint, NodeStatus, StatusResponse

from .format import format_age, format_loss, format_rate
from .loss_chart import LOSS_STYLE, VALIDATION_STYLE, LossChart
from .pane import LABEL_STYLE, Pane
from .plot import sparkline

THROUGHPUT_SPARK_CHARS = 6  # recent tokens/s as a sparkline after the number
THROUGHPUT_POINTS = 48  # how many recent points the sparkline summarises


def _sync_text(node: NodeStatus) -> str:
    if node.steps_to_sync is not None:
        return f"next sync in {node.steps_to_sync:,} steps"
    return "no sync: alone" if node.mode == "solo" else "no sync planned"


def describe_training(node: NodeStatus, throughput: list[float]) -> Text:
    step = f"{node.step:,}" + (f"/{node.max_steps:,}" if node.max_steps else "")
    inner = "—" if node.inner_step is None else f"{node.inner_step:,}"
    checkpoint = "none yet" if node.checkpoint_age_s is None else f"{format_age(node.checkpoint_age_s)} ago"
    # each line fits 36 columns (the two-column layout of an 80-column terminal) for usual values
    return Text.assemble(
        ("step ", LABEL_STYLE), (step, "bold"), ("  loss ", LABEL_STYLE), (format_loss(node.loss), LOSS_STYLE),
        ("  val ", LABEL_STYLE), (format_loss(node.validation_loss), VALIDATION_STYLE), "\n",
        (format_rate(node.tokens_per_s), "bold"), (" tok/s ", LABEL_STYLE),
        (sparkline(throughput[-THROUGHPUT_POINTS:], THROUGHPUT_SPARK_CHARS), "green"),
        ("  saved ", LABEL_STYLE), checkpoint, "\n",
        ("inner ", LABEL_STYLE), inner, (" · ", LABEL_STYLE), _sync_text(node),
    )


class TrainingPane(Pane):
    TITLE = "Training"

    DEFAULT_CSS = """
    TrainingPane > .pane-body { height: 3; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._node: NodeStatus | None = None
        self._throughput: list[float] = []

    def compose(self) -> ComposeResult:
        yield Static(Text("waiting for the agent…", style="dim"), classes="pane-body")
        yield LossChart()

    @property
    def chart(self) -> LossChart:
        return self.query_one(LossChart)

    def show_status(self, status: StatusResponse) -> None:
        self._node = status.node
        self.show(describe_training(status.node, self._throughput))

    def show_metrics(self, points: tuple[MetricPoint, ...]) -> None:
        recent = points[-THROUGHPUT_POINTS:]
        self._throughput = [p.tokens_per_s for p in recent if p.tokens_per_s is not None]
        self.chart.set_points(points)
        if self._node is not None:
            self.show(describe_training(self._node, self._throughput))
