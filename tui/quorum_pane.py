"""Quorum: the pipeline as a chain of members (stage, layers, tier, latency, health) and its session."""

from __future__ import annotations

from rich.text import Text

from agent.api.schema import QuorumMemberView, QuorumView, StatusResponse

from .format import MISSING, format_duration, format_layers, short_id
from .pane import Pane

HEALTH_STYLES = {"healthy": "green", "degraded": "yellow", "offline": "red"}


def _role(member: QuorumMemberView, members: int) -> str:
    if member.stage == 0:
        return "initiator"
    return "finisher" if member.stage == members - 1 else "processor"


def _member_line(member: QuorumMemberView, members: int) -> Text:
    latency = "you" if member.is_self else (MISSING if member.latency_ms is None else f"{member.latency_ms:.0f} ms")
    arrow = "  " if member.stage == 0 else "→ "
    return Text.assemble(
        (arrow, "dim"), (f"{_role(member, members):<9} ", "dim"),
        (short_id(member.node_id), "bold" if member.is_self else ""),
        f" L{format_layers(member.layer_start, member.layer_stop):<6} {member.tier or MISSING:<3} {latency:>6} ",
        (member.health, HEALTH_STYLES.get(member.health, "")),
    )


def describe_quorum(quorum: QuorumView | None, mode: str) -> Text:
    if quorum is None:
        if mode == "solo":
            return Text("alone: no quorum. In SOLO mode this node runs the whole pipeline itself.", style="italic")
        return Text("not in a quorum", style="italic dim")
    members = sorted(quorum.members, key=lambda member: member.stage)
    text = Text.assemble((quorum.quorum_id[:8], "bold"), f" {quorum.state} · {quorum.tier or MISSING}",
                         f" · {format_duration(quorum.session_remaining_s)} left · {quorum.batches:,} batches")
    for member in members:
        text.append("\n")
        text.append(_member_line(member, len(members)))
    return text


class QuorumPane(Pane):
    TITLE = "Quorum"

    def show_status(self, status: StatusResponse) -> None:
        self.show(describe_quorum(status.quorum, status.node.mode))
