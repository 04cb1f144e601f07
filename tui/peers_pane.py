"""Peers: a sortable, filterable table of every peer the agent knows.

Built for hundreds of peers refreshed every second: the pane decides which
rows to show and in what order; PeersTable applies that with the least work.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from agent.api.schema import PeerView

from .format import MISSING, format_age, format_layers
from .pane import Pane
from .peers_table import IdCell, PeersTable, Row

STATE_RANK = {"alive": 0, "degraded": 1, "offline": 2}
STATE_STYLES = {"alive": "green", "degraded": "yellow", "offline": "red"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort_key: Callable[[PeerView], Any]


COLUMNS = (
    Column("id", "id", lambda p: p.node_id),
    Column("address", "address", lambda p: p.address),
    Column("found", "found by", lambda p: ",".join(p.found_by)),
    Column("tier", "tier", lambda p: p.tier or "T9"),
    Column("layers", "layers", lambda p: (p.layer_start is None, p.layer_start or 0, p.layer_stop or 0)),
    Column("state", "state", lambda p: (STATE_RANK.get(p.state, 9), p.node_id)),
    Column("heartbeat", "heartbeat", lambda p: math.inf if p.last_heartbeat_age_s is None else p.last_heartbeat_age_s),
)
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}


def peer_cells(peer: PeerView) -> Row:
    return (
        IdCell(peer.node_id),
        peer.address,
        ",".join(peer.found_by),
        peer.tier or MISSING,
        format_layers(peer.layer_start, peer.layer_stop),
        Text(peer.state, style=STATE_STYLES.get(peer.state, "")),
        format_age(peer.last_heartbeat_age_s),
    )


def matches(peer: PeerView, needle: str) -> bool:
    if not needle:
        return True
    haystack = " ".join((peer.node_id, peer.address, *peer.found_by, peer.tier or "", peer.state)).lower()
    return needle.lower() in haystack


class PeersPane(Pane):
    TITLE = "Peers"
    can_focus = False  # the table inside takes focus

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "next_sort", "Sort", show=False),
        Binding("r", "reverse_sort", "Reverse", show=False),
        Binding("escape", "end_filter", "End filter", show=False),
    ]
    DEFAULT_CSS = """
    PeersPane > .pane-body { height: 1; }
    PeersPane > Input { display: none; height: 1; border: none; padding: 0; }
    PeersPane > Input.-active { display: block; }
    PeersPane > DataTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._peers: tuple[PeerView, ...] = ()
        self.sort_column = "state"
        self.sort_reverse = False
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Static(Text("waiting for the agent…", style="dim"), classes="pane-body")
        yield Input(placeholder="filter: part of an id, address, tier or state (enter: keep, esc: clear)")
        yield PeersTable([(column.key, column.label) for column in COLUMNS])

    @property
    def table(self) -> PeersTable:
        return self.query_one(PeersTable)

    @property
    def row_count(self) -> int:
        return self.table.row_count

    def show_peers(self, peers: tuple[PeerView, ...]) -> None:
        self._peers = peers
        self._redraw()

    def _rows(self) -> list[PeerView]:
        column = COLUMN_BY_KEY[self.sort_column]
        shown = [peer for peer in self._peers if matches(peer, self.filter_text)]
        return sorted(shown, key=column.sort_key, reverse=self.sort_reverse)

    def _redraw(self) -> None:
        rows = self._rows()
        self.table.show_rows([(peer.node_id, peer_cells(peer)) for peer in rows])
        self._show_summary(len(rows))

    def _show_summary(self, shown: int) -> None:
        arrow = "▼" if self.sort_reverse else "▲"
        count = f"{len(self._peers)} peers" if shown == len(self._peers) else f"{shown} of {len(self._peers)} peers"
        if self.filter_text:
            count += f" matching '{self.filter_text}'"
        label = COLUMN_BY_KEY[self.sort_column].label
        self.show(Text.assemble((count, "bold"), (f" · sorted by {label} {arrow} · s sort · / filter", "dim")))

    # ------------------------------------------------------------ sorting and filtering
    def sort_by(self, column_key: str, *, reverse: bool | None = None) -> None:
        if reverse is None:  # the same column again flips the order
            reverse = not self.sort_reverse if column_key == self.sort_column else False
        self.sort_column, self.sort_reverse = column_key, reverse
        self._redraw()

    def action_next_sort(self) -> None:
        keys = [column.key for column in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)], reverse=False)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    def on_data_table_header_selected(self, message: DataTable.HeaderSelected) -> None:
        message.stop()
        self.sort_by(str(message.column_key.value))

    def start_filter(self) -> None:
        field = self.query_one(Input)
        field.add_class("-active")
        field.focus()

    def action_end_filter(self) -> None:
        field = self.query_one(Input)
        field.value = ""
        field.remove_class("-active")
        self.table.focus()

    def on_input_changed(self, message: Input.Changed) -> None:
        message.stop()
        self.filter_text = message.value.strip()
        self._redraw()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        message.stop()
        if not self.filter_text:
            self.query_one(Input).remove_class("-active")
        self.table.focus()
