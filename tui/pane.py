"""The base of every dashboard pane: a bordered, titled, focusable box fed with StatusResponses."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from agent.api.schema import StatusResponse

LABEL_STYLE = "dim"


def label_rows(rows: Iterable[tuple[str, str | Text]], *, label_chars: int = 8) -> Text:
    """Aligned "label  value" lines."""
    text = Text()
    for index, (label, value) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(label.ljust(label_chars), style=LABEL_STYLE)
        text.append(value)
    return text


class Pane(Vertical):
    """A titled box. Subclasses set TITLE and override show_status; simple ones write into `body`."""

    TITLE = ""
    can_focus = True

    DEFAULT_CSS = """
    Pane {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        padding: 0 1;
        height: 100%;
    }
    Pane:focus, Pane:focus-within { border: round $accent; border-title-color: $accent; }
    Pane > .pane-body { width: 100%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = self.TITLE
        self._shown: Text | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("waiting for the agent…", style="dim"), classes="pane-body")

    @property
    def text(self) -> str:
        """What the body shows, as plain text (tests read it)."""
        return self._shown.plain if self._shown is not None else ""

    def show(self, text: Text) -> None:
        """Write into the body; skipped when nothing changed, so an idle agent costs no layout."""
        if text != self._shown:
            self._shown = text
            self.query_one(".pane-body", Static).update(text)

    def show_status(self, status: StatusResponse) -> None:
        """Called with every new status; panes that draw from it override this."""
