"""What the node tells peers (its advert) and people (the local API's status)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from coordinator_free.constants import PROTOCOL_VERSION, TIER_NAMES
from coordinator_free.scale import network_phase

from . import __version__
from .api.schema import NetworkSummary, NodeStatus, StatusResponse
from .network.messages import Advert
from .quorum.status import (
    auto_status_fields,
    held_layers,
    pipeline_status_fields,
    quorum_id_of,
    quorum_view,
)

if TYPE_CHECKING:
    from .node import Node


@dataclass
class TrainingStatus:
    """What the node is doing now, for progress lines, status and the dashboard."""

    step: int = 0  # training steps completed
    max_steps: int | None = None  # where `run` stops; None: until stopped
    loss: float | None = None  # last training loss, nats
    validation_loss: float | None = None  # last validation loss, nats
    tokens_per_s: float | None = None  # throughput of the last step
    last_checkpoint: Path | None = None
    last_checkpoint_time_s: float | None = None  # time.time() of the last save
    paused: bool = False  # contributing paused by the owner


def tier_name(tier: int | None) -> str | None:
    return None if tier is None else TIER_NAMES[tier - 1]


def build_advert(node: Node) -> Advert:
    """Alone, the node holds every layer (embedding and head ride with them)."""
    training = not node.status.paused and node.trainer is not None
    held = held_layers(node)
    return Advert(
        arch_name=node.arch.name,
        arch_version=node.arch.arch_version,
        vocab_version=node.arch.vocab_version,
        tier=tier_name(node.bench.tier) if node.bench else None,
        layer_start=held[0] if held else None,
        layer_stop=held[1] if held else None,
        quorum_id=quorum_id_of(node),
        queue_depth=0,
        free_capacity_fraction=0.0 if training else 1.0,
        step=node.status.step,
    )


def build_status(node: Node) -> StatusResponse:
    bench = node.bench
    holds = node.trainer is not None
    network = node.config.network
    status = NodeStatus(
        node_id=node.node_id or "",
        agent_version=__version__,
        protocol_version=PROTOCOL_VERSION,
        arch_name=node.arch.name,
        arch_version=node.arch.arch_version,
        vocab_version=node.arch.vocab_version,
        network=network.network_name if network else "",
        peer_port=node.peers.port if node.peers else 0,
        uptime_s=time.monotonic() - node.started_at_s,
        paused=node.status.paused,
        mode="solo" if holds else "idle",
        tier=tier_name(bench.tier) if bench else None,
        compute_speed_ms=bench.ms_per_layer if bench else None,
        runtime=bench.runtime if bench else None,
        layer_start=0 if holds else None,
        layer_stop=node.arch.layer_count if holds else None,
        step=node.status.step,
        loss=node.status.loss,
        tokens_per_s=node.status.tokens_per_s,
        **_dashboard_fields(node),
    )
    if node.work is not None:  # a quorum stage (PIPELINE): its own mode, layers and quorum
        status = dataclasses.replace(status, **pipeline_status_fields(node))  # type: ignore[arg-type]
    elif node.modes is not None:  # --mode auto|async: the rules' mode and why
        status = dataclasses.replace(status, **auto_status_fields(node))  # type: ignore[arg-type]
    peer_counts = node.peers.peer_counts() if node.peers else {}
    return StatusResponse(node=status, peer_counts=peer_counts, network_summary=_network_summary(node, peer_counts),
                          sync_rounds=tuple(node.cohort.report.rounds), quorum=quorum_view(node))


def _dashboard_fields(node: Node) -> dict[str, object]:
    """The NodeStatus fields the dashboard added (issue 6)."""
    bench, status = node.bench, node.status
    saved_s = status.last_checkpoint_time_s
    return {
        "mode_reason": _mode_reason(node),
        "activity": _activity(node),
        "device": bench.device if bench else None,
        "layer_count": node.arch.layer_count,
        "memory_bytes": bench.memory_bytes if bench else None,
        "max_layers": bench.max_layers if bench else None,
        "process_memory_bytes": int(psutil.Process().memory_info().rss),
        "validation_loss": status.validation_loss,
        "max_steps": status.max_steps,
        "inner_step": node.cohort.inner_steps() if node.trainer is not None else None,
        "steps_to_sync": node.cohort.steps_to_sync(status.step) if node.trainer is not None else None,
        "checkpoint_age_s": None if saved_s is None else max(0.0, time.time() - saved_s),
    }


def _activity(node: Node) -> str:
    if node.stopping:
        return "stopping"
    if node.bench is None:
        return "benchmarking"
    if node.trainer is None and node.work is None:  # a pipeline stage trains through node.work, no trainer
        return "preparing data"
    return "paused" if node.status.paused else "training"


def _mode_reason(node: Node) -> str:
    if node.trainer is None:
        return "starting: no layers loaded yet"
    alive = node.peers.peer_counts().get("alive", 0) if node.peers else 0
    if alive:
        return f"{alive} peer(s) seen, but this agent forms no quorums yet: it trains every layer alone"
    return "alone on the network (genesis): it trains every layer itself"


def _network_summary(node: Node, peer_counts: dict[str, int]) -> NetworkSummary:
    size = 1 + peer_counts.get("alive", 0) + peer_counts.get("degraded", 0)
    network = node.config.network
    return NetworkSummary(size=size, phase=network_phase(size).name.title(), arch_version=node.arch.arch_version,
                          vocab_version=node.arch.vocab_version, network=network.network_name if network else "")
