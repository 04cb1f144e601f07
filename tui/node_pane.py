"""Node: who this agent is, how fast, on what runtime, in which mode and why, what it holds."""

from __future__ import annotations

from rich.text import Text

from agent.api.schema import NodeStatus, StatusResponse

from .format import MISSING, format_bytes, format_duration, format_layers, short_id
from .pane import Pane, label_rows

ACTIVITY_STYLES = {"training": "green", "paused": "yellow", "stopping": "red"}


def _speed(node: NodeStatus) -> Text:
    if node.tier is None:
        return Text("benchmarking…", style="dim")
    speed = MISSING if node.compute_speed_ms is None else f"{node.compute_speed_ms:.1f} ms/layer"
    return Text.assemble((node.tier, "bold"), f" · {speed}")


def _runtime(node: NodeStatus) -> str:
    if node.runtime is None:
        return MISSING
    return f"{node.runtime} on {node.device}" if node.device else node.runtime


def _layers(node: NodeStatus) -> str:
    held = format_layers(node.layer_start, node.layer_stop)
    if node.layer_count is not None and node.layer_start is not None:
        held += f" of {node.layer_count}"
    if node.max_layers is not None:
        held += f" (room for {node.max_layers:,})"
    return held


def _memory(node: NodeStatus) -> str:
    used = format_bytes(node.process_memory_bytes)
    if node.memory_bytes is None:
        return f"{used} used"
    return f"{used}, {format_bytes(node.memory_bytes)} free"


def describe_node(node: NodeStatus) -> Text:
    activity = node.activity or ("paused" if node.paused else "")
    mode = Text.assemble((node.mode.upper(), "bold"), "  ", (activity, ACTIVITY_STYLES.get(activity, "")))
    return label_rows([
        ("id", Text.assemble((short_id(node.node_id), "bold"), f"  {node.arch_name} v{node.arch_version}")),
        ("tier", _speed(node)),
        ("runtime", _runtime(node)),
        ("mode", mode),
        ("why", Text(node.mode_reason or MISSING, style="italic")),
        ("layers", _layers(node)),
        ("memory", _memory(node)),
        ("uptime", format_duration(node.uptime_s)),
    ])


class NodePane(Pane):
    TITLE = "Node"

    def show_status(self, status: StatusResponse) -> None:
        self.show(describe_node(status.node))
