"""The dashboard app: polls the agent's local API and shows it in eight panes.

    app = DashboardApp(StateDirLocator(state_dir))            # or FixedLocator(url, token)
    app.run()                                                  # or `await app.run_async()`

Data flow: a `set_interval` timer starts one poll at a time, as an
`@work(exclusive=True)` worker (Textual's examples/dictionary.py); the worker
posts messages (tui/messages.py) that the app hands to the panes. When a
poll fails the top line turns red with the reason, the panes keep their last
data greyed, and polling simply goes on: the first poll that succeeds
reconnects (a state-directory locator re-reads the agent's URL each time, so
a restarted agent on another port is found too).

Layout: at 110 × 36 or more, three columns with every pane in view (120 × 40
is the design size); smaller terminals get two columns in a scrolling grid
(80 × 24: tab moves through the panes and scrolls each into view).
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Console
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.widgets import Footer
from textual.worker import Worker

from .client import DEFAULT_TIMEOUT_S, AgentClient, AgentLocator, AgentUnavailable
from .cohort_pane import CohortPane
from .connection_bar import ConnectionBar
from .earnings_pane import EarningsPane
from .feed import AgentFeed
from .help_screen import HelpScreen
from .log_pane import LogPane
from .messages import (
    ConnectionChanged,
    LogsUpdated,
    MetricsUpdated,
    PeersUpdated,
    StatusUpdated,
)
from .network_pane import NetworkPane
from .node_pane import NodePane
from .pane import Pane
from .peers_pane import PeersPane
from .quorum_pane import QuorumPane
from .training_pane import TrainingPane

DEFAULT_REFRESH_S = 1.0  # seconds between polls of the agent

CSS = """
#panes { scrollbar-size-vertical: 1; layout: grid; grid-size: 2; grid-columns: 1fr 1fr; grid-rows: 12 9 9 14 10; height: 1fr; }
#peers, #log { column-span: 2; }
Screen.-wide.-tall #panes { grid-size: 3; grid-columns: 38 1fr 34; grid-rows: 12 9 1fr 8; overflow-y: hidden; }
Screen.-wide.-tall #peers, Screen.-wide.-tall #log { column-span: 3; }
#panes.-stale Pane { text-opacity: 45%; }
#panes.-stale Pane * { text-opacity: 45%; }
"""


class DashboardApp(App[None]):
    """Watches one agent. `refresh_s` sets the poll period; `timeout_s` bounds each request."""

    TITLE = "NeuroShard"
    CSS = CSS
    ENABLE_COMMAND_PALETTE = False  # its ctrl+p entry would crowd the footer on 80 columns
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (36, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False),  # what people try first; Textual would only hint at ctrl+q
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("tab", "focus_next", "Next pane", priority=True),
        Binding("shift+tab", "focus_previous", "Previous pane", show=False),
        Binding("slash", "filter_peers", "Filter peers", key_display="/"),
    ]

    def __init__(self, locator: AgentLocator, *, refresh_s: float = DEFAULT_REFRESH_S,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__()
        self.locator = locator
        self.refresh_s = refresh_s
        self.client = AgentClient(locator, timeout_s=timeout_s)
        self.feed = AgentFeed(self.client)
        self.paused: bool | None = None  # as the agent last reported; None: not known yet
        self._poll_worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield ConnectionBar(self.locator.describe())
        with ScrollableContainer(id="panes", can_focus=False):
            yield NodePane(id="node")
            yield TrainingPane(id="training")
            yield NetworkPane(id="network")
            yield QuorumPane(id="quorum")
            yield CohortPane(id="cohort")
            yield EarningsPane(id="earnings")
            yield PeersPane(id="peers")
            yield LogPane(id="log")
        yield Footer()

    async def on_mount(self) -> None:
        await self.client.__aenter__()
        self.set_interval(self.refresh_s, self.poll_now)
        self.poll_now()

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "poll")
        await self.client.__aexit__(None, None, None)

    def _panes_gone(self) -> bool:
        """True while the app shuts down: a poll that was in flight may still deliver its messages."""
        return not self.query("#panes")

    # ------------------------------------------------------------ polling
    def poll_now(self) -> None:
        """Start a poll unless one is still in flight (a slow agent must not pile up requests)."""
        if self._poll_worker is not None and self._poll_worker.is_running:
            return
        self._poll_worker = self.poll_agent()

    @work(exclusive=True, group="poll")
    async def poll_agent(self) -> None:
        try:
            snapshot = await self.feed.poll()
        except AgentUnavailable as error:
            self.post_message(ConnectionChanged(connected=False, where=self.client.url or self.locator.describe(),
                                                reason=str(error)))
            return
        self.post_message(ConnectionChanged(connected=True, where=snapshot.url))
        self.post_message(StatusUpdated(snapshot.status))
        self.post_message(PeersUpdated(snapshot.peers))
        self.post_message(MetricsUpdated(snapshot.points))
        self.post_message(LogsUpdated(snapshot.log_lines, snapshot.generation))

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        if self._panes_gone():
            return
        bar = self.query_one(ConnectionBar)
        self.query_one("#panes").set_class(not message.connected, "-stale")
        if message.connected:
            bar.show_connected(message.where, bar.node_id)
        else:
            bar.show_disconnected(message.where, message.reason, self.refresh_s)

    def on_status_updated(self, message: StatusUpdated) -> None:
        if self._panes_gone():
            return
        self.paused = message.status.node.paused
        bar = self.query_one(ConnectionBar)
        if bar.node_id != message.status.node.node_id and bar.connected:
            bar.show_connected(self.client.url or "", message.status.node.node_id)
        for pane in self.query(Pane):
            pane.show_status(message.status)

    def on_peers_updated(self, message: PeersUpdated) -> None:
        if self._panes_gone():
            return
        self.query_one(PeersPane).show_peers(message.peers)

    def on_metrics_updated(self, message: MetricsUpdated) -> None:
        if self._panes_gone():
            return
        self.query_one(TrainingPane).show_metrics(message.points)

    def on_logs_updated(self, message: LogsUpdated) -> None:
        if self._panes_gone():
            return
        self.query_one(LogPane).show_lines(message.lines, message.generation)

    # ------------------------------------------------------------ keys
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_filter_peers(self) -> None:
        self.query_one(PeersPane).start_filter()

    def action_toggle_pause(self) -> None:
        if self.paused is None:
            self.notify("the agent has not answered yet: nothing to pause", severity="warning")
            return
        wanted = not self.paused
        self.notify("pausing: the agent finishes its step and stays online" if wanted else "resuming training")
        self.send_pause(wanted)

    @work(exclusive=True, group="control")
    async def send_pause(self, paused: bool) -> None:
        try:
            response = await self.client.set_paused(paused)
        except AgentUnavailable as error:
            self.notify(f"could not {'pause' if paused else 'resume'}: {error}", severity="error")
            return
        self.paused = response.paused
        self.poll_now()

    # ------------------------------------------------------------ for tests and tools
    def screen_text(self) -> str:
        """The screen as plain text, as a person sees it (snapshot tests compare this)."""
        width, height = self.size
        console = Console(width=width, height=height, record=True, file=_NullFile(), force_terminal=True,
                          color_system=None, legacy_windows=False)
        console.print(self.screen._compositor.render_update(full=True, screen_stack=self._background_screens))
        return console.export_text(styles=False)


class _NullFile:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
