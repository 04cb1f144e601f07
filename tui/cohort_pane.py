"""Cohort sync: the last DiLoCo rounds, who contributed with what weight, who was trimmed or left out."""

from __future__ import annotations

import time

from rich.text import Text

from agent.api.schema import StatusResponse, SyncContributorView, SyncRoundView

from .format import format_age, format_layers, short_id
from .pane import Pane

ROUNDS_SHOWN = 3  # newest rounds listed; the pane is a few lines high


def _contributor(contributor: SyncContributorView) -> Text:
    name = short_id(contributor.node_id)[:6]
    if contributor.left_out:
        return Text(f"{name} left out" + (f" ({contributor.reason})" if contributor.reason else ""), style="red")
    if contributor.trimmed:
        return Text(f"{name} trimmed", style="yellow")
    return Text.assemble(name, " ", (f"{contributor.weight:.2f}", "bold"))


def _round(sync_round: SyncRoundView, now_s: float) -> Text:
    text = Text.assemble(
        (f"step {sync_round.step:,}", "bold"), f" · {format_age(now_s - sync_round.finished_at_s)} ago",
        f" · layers {format_layers(sync_round.layer_start, sync_round.layer_stop)}", "\n  ",
    )
    text.append(Text("  ").join(_contributor(c) for c in sync_round.contributors) if sync_round.contributors
                else Text("no contributions", style="dim"))
    return text


def describe_sync(status: StatusResponse, now_s: float) -> Text:
    node = status.node
    if not status.sync_rounds:
        why = "alone: no other holder of these layers to sync with" if node.mode == "solo" else "none yet"
        lines = Text.assemble(("no cohort sync yet", "italic"), "\n", (why, "dim"))
        if node.steps_to_sync is not None:
            lines.append(f"\nnext sync in {node.steps_to_sync:,} steps")
        return lines
    rounds = list(reversed(status.sync_rounds[-ROUNDS_SHOWN:]))
    return Text("\n").join(_round(sync_round, now_s) for sync_round in rounds)


class CohortPane(Pane):
    TITLE = "Cohort sync"

    def show_status(self, status: StatusResponse) -> None:
        rule = status.sync_rounds[-1].rule if status.sync_rounds else ""
        self.border_subtitle = rule  # the aggregation rule, once, in the border
        self.show(describe_sync(status, time.time()))
