"""Log: the agent's recent log lines and node events, newest at the bottom."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Log

from agent.api.schema import LogLine

from .format import format_clock
from .pane import Pane

MAX_LINES = 500  # lines the widget keeps


def format_line(line: LogLine) -> str:
    source = "" if line.source == "node" else f"{line.source}: "
    level = "" if line.level == "info" else f"{line.level.upper()} "
    return f"{format_clock(line.time_s)} {level}{source}{line.message}"


class LogPane(Pane):
    TITLE = "Log"
    can_focus = False  # the Log inside takes focus (and scrolls with the keys)

    DEFAULT_CSS = """
    LogPane > Log { height: 1fr; background: $surface; overflow-x: hidden; scrollbar-size-vertical: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last_seq = -1
        self._generation = -1

    def compose(self) -> ComposeResult:
        yield Log(max_lines=MAX_LINES, auto_scroll=True)

    @property
    def text(self) -> str:
        return "\n".join(self.query_one(Log).lines)

    def show_lines(self, lines: tuple[LogLine, ...], generation: int) -> None:
        log = self.query_one(Log)
        if generation != self._generation:  # the history was fetched whole again: start over
            log.clear()
            self._last_seq = -1
            self._generation = generation
        fresh = [line for line in lines if line.seq > self._last_seq]
        if fresh:
            log.write_lines(format_line(line) for line in fresh)
            self._last_seq = fresh[-1].seq
