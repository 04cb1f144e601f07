"""What the dashboard knows about the agent, refreshed by one poll at a time.

The status and the peer table are small and asked for whole every poll. The
metrics history and the log are asked for incrementally (?since=), and kept
here, bounded: the metrics copy is fetched whole again when it grows past
`max_points` (the agent's copy is downsampled, so that resets it to at most
the agent's capacity).

A restarted agent numbers its samples and lines from 0 again, so `?since=`
from the old numbering would skip or mix data. The history is therefore
dropped and fetched whole after any failed poll, when another node answers,
and when the agent's uptime went backwards (a restart between two polls);
`generation` counts these resets so the panes know to start over.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from agent.api.schema import LogLine, MetricPoint, PeerView, StatusResponse

from .client import AgentClient, AgentUnavailable

DEFAULT_MAX_POINTS = 8192  # metric points kept before refetching the agent's downsampled copy
DEFAULT_MAX_LOG_LINES = 500  # log lines kept


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the agent after a poll."""

    url: str
    status: StatusResponse
    peers: tuple[PeerView, ...]
    points: tuple[MetricPoint, ...]  # oldest first
    log_lines: tuple[LogLine, ...]  # oldest first
    generation: int  # increases whenever the history was dropped and fetched whole again


class AgentFeed:
    """Polls an AgentClient and accumulates history; raises AgentUnavailable like the client."""

    def __init__(self, client: AgentClient, *, max_points: int = DEFAULT_MAX_POINTS,
                 max_log_lines: int = DEFAULT_MAX_LOG_LINES) -> None:
        self.client = client
        self.max_points = max_points
        self._points: list[MetricPoint] = []
        self._metrics_seq = -1
        self._log_lines: deque[LogLine] = deque(maxlen=max_log_lines)
        self._logs_seq = -1
        self._node_id: str | None = None
        self._uptime_s = 0.0
        self._failed = False
        self.generation = 0

    def forget_history(self) -> None:
        """Fetch metrics and logs whole next time (after a disconnection: the agent may be a new process)."""
        self._points.clear()
        self._metrics_seq = -1
        self._log_lines.clear()
        self._logs_seq = -1
        self.generation += 1

    async def poll(self) -> Snapshot:
        try:
            return await self._poll()
        except AgentUnavailable:
            self._failed = True
            raise

    async def _poll(self) -> Snapshot:
        status = await self.client.status()
        node = status.node
        if self._failed or node.node_id != self._node_id or node.uptime_s < self._uptime_s:
            self.forget_history()
        self._failed, self._node_id, self._uptime_s = False, node.node_id, node.uptime_s
        peers = await self.client.peers()
        await self._poll_metrics()
        await self._poll_logs()
        return Snapshot(url=self.client.url or "", status=status, peers=peers.peers, points=tuple(self._points),
                        log_lines=tuple(self._log_lines), generation=self.generation)

    async def _poll_metrics(self) -> None:
        response = await self.client.metrics(self._metrics_seq)
        if response.last_seq < self._metrics_seq:  # the agent restarted its numbering: start again
            self.forget_history()
            response = await self.client.metrics(-1)
        self._points.extend(response.points)
        self._metrics_seq = response.last_seq
        if len(self._points) > self.max_points:
            whole = await self.client.metrics(-1)
            self._points = list(whole.points)
            self._metrics_seq = whole.last_seq

    async def _poll_logs(self) -> None:
        response = await self.client.logs(self._logs_seq)
        if response.last_seq < self._logs_seq:
            self._log_lines.clear()
            response = await self.client.logs(-1)
        self._log_lines.extend(response.lines)
        self._logs_seq = response.last_seq
