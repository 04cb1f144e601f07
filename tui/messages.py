"""Every custom message of the dashboard, in one place (as toolong's messages.py).

Each carries a whole snapshot of what it reports, never a delta, so a newer
message of the same kind may replace an older one still queued
(`can_replace`): when the UI falls behind a burst of polls it draws the
latest state once instead of every stale one in turn.
"""

from __future__ import annotations

from textual.message import Message

from agent.api.schema import LogLine, MetricPoint, PeerView, StatusResponse


class StatusUpdated(Message):
    """A new StatusResponse from the agent."""

    def __init__(self, status: StatusResponse) -> None:
        super().__init__()
        self.status = status

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatusUpdated)


class PeersUpdated(Message):
    """The agent's whole peer table."""

    def __init__(self, peers: tuple[PeerView, ...]) -> None:
        super().__init__()
        self.peers = peers

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PeersUpdated)


class MetricsUpdated(Message):
    """The whole metrics history the dashboard holds, oldest first."""

    def __init__(self, points: tuple[MetricPoint, ...]) -> None:
        super().__init__()
        self.points = points

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MetricsUpdated)


class LogsUpdated(Message):
    """The log lines the dashboard holds, oldest first."""

    def __init__(self, lines: tuple[LogLine, ...], generation: int) -> None:
        super().__init__()
        self.lines = lines
        self.generation = generation  # a new one: the lines start over (another agent process)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LogsUpdated)


class ConnectionChanged(Message):
    """Reachability of the agent after a poll: connected, or why not."""

    def __init__(self, *, connected: bool, where: str, reason: str = "") -> None:
        super().__init__()
        self.connected = connected
        self.where = where  # the agent's URL, or the state directory when none is known
        self.reason = reason  # why it is unreachable, for people

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ConnectionChanged)
