"""The top line: which agent, and whether it answers. Red, with the reason, while it does not."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from .format import format_clock, short_id


class ConnectionBar(Static):
    DEFAULT_CSS = """
    ConnectionBar { height: 1; width: 100%; background: $primary-background; padding: 0 1; }
    ConnectionBar.-disconnected { background: $error; color: $text; text-style: bold; }
    """

    def __init__(self, where: str) -> None:
        super().__init__(Text.assemble(("NeuroShard", "bold"), f" · connecting to {where}…"))
        self.connected: bool | None = None  # None: no answer yet, either way
        self.last_data_s: float | None = None  # wall-clock time of the last good poll
        self.node_id = ""

    def show_connected(self, where: str, node_id: str) -> None:
        self.connected, self.node_id, self.last_data_s = True, node_id, time.time()
        self.remove_class("-disconnected")
        self.update(Text.assemble(("NeuroShard", "bold"), f" · node {short_id(node_id)} · agent {where} · ",
                                  ("connected", "green")))

    def show_disconnected(self, where: str, reason: str, retry_s: float) -> None:
        self.connected = False
        self.add_class("-disconnected")
        since = "no data yet" if self.last_data_s is None else f"greyed data from {format_clock(self.last_data_s)}"
        self.update(f"✖ agent unreachable: {reason} · {since} · retrying every {retry_s:g} s")
