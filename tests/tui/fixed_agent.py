"""A real local API (agent.api.local.LocalApi on 127.0.0.1) serving fixed, deterministic data.

For tests that need exact screens (layout snapshots) or a load no single
test machine can host (500 peers, a week of history): the dashboard still
talks real HTTP to the real API code; only the node behind it is replaced by
providers returning these records.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from agent.api.local import LocalApi
from agent.api.schema import (
    EarningsView,
    NetworkSummary,
    NodeStatus,
    PeerView,
    QuorumMemberView,
    QuorumView,
    RewardView,
    StatusResponse,
    SyncContributorView,
    SyncRoundView,
)
from agent.log_buffer import LogBuffer
from agent.metrics import MetricsHistory
from agent.network.config import NetworkConfig

BASE_TIME_S = 1_790_000_000.0  # a fixed wall clock for history and log lines
NODE_ID = "3a7f9c21" + "0" * 56
FOUND_BY = (("mdns",), ("exchange",), ("bootstrap",), ("mdns", "inbound"))
STATES = ("alive",) * 8 + ("degraded", "offline")
TIERS = ("T1", "T2", "T3", "T4", "T5", None)


def make_peers(count: int) -> tuple[PeerView, ...]:
    peers = []
    for index in range(count):
        tier = TIERS[index % len(TIERS)]
        start = (index * 3) % 11
        peers.append(PeerView(
            node_id=f"{(index * 2654435761) % 2**32:08x}" + f"{index:056x}", address=f"10.0.{index // 250}.{index % 250 + 2}:8470",
            found_by=FOUND_BY[index % len(FOUND_BY)], state=STATES[index % len(STATES)], tier=tier,
            layer_start=None if tier is None else start, layer_stop=None if tier is None else min(11, start + 4),
            arch_version=1, vocab_version=1, last_heartbeat_age_s=float((index * 7) % 31), step=index,
        ))
    return tuple(peers)


def make_status(peers: tuple[PeerView, ...], *, in_quorum: bool = False, now_s: float | None = None) -> StatusResponse:
    now_s = time.time() if now_s is None else now_s
    node = NodeStatus(
        node_id=NODE_ID, agent_version="0.1.0", protocol_version=1, arch_name="tiny", arch_version=1, vocab_version=1,
        network="snapshot", peer_port=8470, uptime_s=3723.0, paused=False, mode="pipeline" if in_quorum else "solo",
        tier="T3", compute_speed_ms=72.4, runtime="onnx", layer_start=0, layer_stop=3, step=1234, loss=1.2345,
        tokens_per_s=25202.0, mode_reason=("in a T3 quorum: it holds layers 0-1 of the pipeline" if in_quorum else
                                           "alone on the network (genesis): it trains every layer itself"),
        activity="training", device="cpu", layer_count=3, memory_bytes=24_200_000_000, max_layers=24232,
        process_memory_bytes=269_000_000, validation_loss=1.3012, inner_step=34,
        steps_to_sync=66 if in_quorum else None, checkpoint_age_s=42.0,
    )
    counts: dict[str, int] = {}
    for peer in peers:
        counts[peer.state] = counts.get(peer.state, 0) + 1
    size = 1 + counts.get("alive", 0) + counts.get("degraded", 0)
    summary = NetworkSummary(size=size, phase="Genesis" if size == 1 else "Small", arch_version=1, vocab_version=1,
                             quorum_count=2 if in_quorum else None, network="snapshot")
    if not in_quorum:
        return StatusResponse(node=node, peer_counts=counts, network_summary=summary)
    return StatusResponse(node=node, peer_counts=counts, network_summary=summary, quorum=_quorum(peers),
                          sync_rounds=_sync_rounds(peers, now_s), earnings=_earnings())


def _quorum(peers: tuple[PeerView, ...]) -> QuorumView:
    members = (QuorumMemberView(NODE_ID, 0, 0, 1, "T3", None, "healthy", is_self=True),
               QuorumMemberView(peers[0].node_id, 1, 1, 2, "T3", 12.0, "healthy"),
               QuorumMemberView(peers[1].node_id, 2, 2, 3, "T4", 48.0, "degraded"))
    return QuorumView(quorum_id="9c0ffee1" * 8, state="active", members=members, tier="T3",
                      session_remaining_s=1380.0, batches=412)


def _sync_rounds(peers: tuple[PeerView, ...], now_s: float) -> tuple[SyncRoundView, ...]:
    contributors = (SyncContributorView(NODE_ID, 0.46, 100), SyncContributorView(peers[2].node_id, 0.54, 130),
                    SyncContributorView(peers[3].node_id, 0.0, 90, trimmed=True, reason="far from the others"),
                    SyncContributorView(peers[4].node_id, 0.0, 0, left_out=True, reason="late"))
    return (SyncRoundView(now_s - 600, 0, 3, step=1100, rule="nnm+trimmed_mean", contributors=contributors[:2]),
            SyncRoundView(now_s - 120, 0, 3, step=1200, rule="nnm+trimmed_mean", contributors=contributors))


def _earnings() -> EarningsView:
    rewards = tuple(RewardView(BASE_TIME_S + i * 60, "pipeline", 0.0015 * (1 + i % 3)) for i in range(20))
    return EarningsView(balance=12.3456, stake=10.0, reward_rate_per_hour=0.09, recent_rewards=rewards,
                        proofs_accepted=412, proofs_challenged=1, proofs_pending=3)


def make_history(samples: int, *, interval_s: float, validate_every: int = 50) -> MetricsHistory:  # 0: no validations
    """A deterministic loss curve: exponential decay from ln(266) with a small ripple."""
    history = MetricsHistory()
    for index in range(samples):
        time_s = BASE_TIME_S + index * interval_s
        loss = 0.05 + 5.5 * 0.5 ** (index / (samples / 8)) + 0.02 * (index % 7) / 7
        history.record_step(step=index + 1, loss=loss, tokens_per_s=25000.0 + 100 * (index % 13), time_s=time_s)
        if validate_every and index % validate_every == 0:
            history.record_validation(step=index + 1, validation_loss=loss * 1.05, time_s=time_s)
    return history


def make_logs() -> LogBuffer:
    logs = LogBuffer()
    lines = [("info", "agent.api.local", "local API on http://127.0.0.1:8471"),
             ("info", "node", "data: 1 shards, 0.0 MB, in /state/shards"),
             ("info", "node", "ready: tiny on onnx (cpu), 72.4 ms/layer, from step 0"),
             ("info", "node", "step 1200: validation loss 1.3012"),
             ("warning", "agent.network.service", "peer 10.0.0.9:8470 did not answer a heartbeat")]
    for index, (level, source, message) in enumerate(lines):
        logs.add(level=level, source=source, message=message, time_s=BASE_TIME_S + index)
    return logs


@asynccontextmanager
async def serve(tmp_path: Path, *, peers: tuple[PeerView, ...], status: Callable[[], StatusResponse],
                history: MetricsHistory, logs: LogBuffer) -> AsyncIterator[LocalApi]:
    """A LocalApi with these providers, announced in tmp_path like a running agent's."""
    api = LocalApi(NetworkConfig(local_api_port=0), tmp_path, status_provider=status,
                   peers_provider=lambda: list(peers), metrics_provider=history.response, logs_provider=logs.response)
    async with api:
        yield api
