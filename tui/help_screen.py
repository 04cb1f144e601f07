"""The ? screen: what every key does and what the panes show."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

HELP_TEXT = """\
[b]Keys[/b]
  q          quit the dashboard (a `run --dashboard` agent saves and stops too)
  ?          this help (esc or ? closes it)
  p          pause / resume contributing: the agent finishes its step,
             leaves its quorum gracefully and stays online
  tab        next pane (shift+tab: previous); arrows scroll the focused one
  /          filter peers (enter keeps the filter, esc clears it)
  s, r       in the peers table: next sort column, reverse the order
             (or click a column header)

[b]Panes[/b]
  Node       id, tier and ms per layer, runtime, mode and why, layers, memory
  Training   step, loss and validation loss over time, tokens/s, next sync
  Quorum     the pipeline's members, their stages, tiers, latency, health
  Cohort     recent DiLoCo syncs: contributors, weights, who was trimmed
  Peers      everyone this node knows: how found, tier, layers, state
  Earnings   balance, stake, rewards, proofs ("not yet" until the ledger runs)
  Network    size, phase, model versions, quorums
  Log        the agent's recent log lines

Greyed panes and a red top line: the agent does not answer; the dashboard
keeps the last data and reconnects by itself."""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close help")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: auto; max-width: 90%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 2; overflow-y: auto;
    }
    HelpScreen Static { width: auto; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(HELP_TEXT)
