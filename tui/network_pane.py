"""Network: how big it is, its phase, the versions this node holds, quorums, peers by state."""

from __future__ import annotations

from rich.text import Text

from agent.api.schema import StatusResponse

from .format import NOT_YET
from .pane import Pane, label_rows

STATE_ORDER = ("alive", "degraded", "offline")


def describe_network(status: StatusResponse) -> Text:
    node, summary = status.node, status.network_summary
    counts = status.peer_counts
    peers = ", ".join(f"{counts[state]} {state}" for state in STATE_ORDER if counts.get(state)) or "none yet"
    if summary is None:  # an agent older than this dashboard
        return label_rows([("network", node.network), ("peers", peers), ("size", Text(NOT_YET, style="dim"))])
    size = f"{summary.size} node" + ("s" if summary.size != 1 else " (alone)")
    quorums = Text(NOT_YET, style="dim") if summary.quorum_count is None else str(summary.quorum_count)
    return label_rows([
        ("network", summary.network or node.network),
        ("size", size),
        ("phase", Text(summary.phase, style="bold")),
        ("model", f"arch v{summary.arch_version} · vocab v{summary.vocab_version}"),
        ("quorums", quorums),
        ("peers", peers),
    ])


class NetworkPane(Pane):
    TITLE = "Network"

    def show_status(self, status: StatusResponse) -> None:
        self.show(describe_network(status))
