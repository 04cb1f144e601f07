"""Quorum: the pipeline as a chain of members (stage, layers, tier, latency, health) and its session."""

from __future__ import annotations

from rich.text import Text

from agent.api.schema import QuorumMemberView, QuorumView, StatusResponse

from .format import MISSING, format_duration, format_layers, short_id
from .pane import Pane

HEALTH_STYLES = {"healthy": "green", "degraded": "yellow", "offline": "red"}


HEALTH_MARKS = {"healthy": "✓"}  # the usual case stays quiet; anything else is spelled out


def _member_line(member: QuorumMemberView) -> Text:
    """One stage in 34 columns: arrow, id, layers, tier, latency, health."""
    latency = "you" if member.is_self else (MISSING if member.latency_ms is None else f"{member.latency_ms:.0f} ms")
    return Text.assemble(
        ("└→" if member.stage else "  ", "dim"), (short_id(member.node_id), "bold" if member.is_self else ""),
        f" L{format_layers(member.layer_start, member.layer_stop):<4}", f" {member.tier or MISSING:<2}",
        f" {latency:>5} ", (HEALTH_MARKS.get(member.health, member.health), HEALTH_STYLES.get(member.health, "")),
    )


def describe_quorum(quorum: QuorumView | None, mode: str) -> Text:
    if quorum is None:
        if mode == "solo":
            return Text("alone: no quorum. In SOLO mode this node runs the whole pipeline itself.", style="italic")
        return Text("not in a quorum", style="italic dim")
    members = sorted(quorum.members, key=lambda member: member.stage)
    text = Text.assemble((quorum.quorum_id[:8], "bold"), f" {quorum.state} · {quorum.tier or MISSING}",
                         f" · {quorum.batches:,} batches\n",
                         ("session ", "dim"), f"{format_duration(quorum.session_remaining_s)} left")
    for member in members:
        text.append("\n")
        text.append(_member_line(member))
    return text


class QuorumPane(Pane):
    TITLE = "Quorum"

    def show_status(self, status: StatusResponse) -> None:
        self.show(describe_quorum(status.quorum, status.node.mode))
