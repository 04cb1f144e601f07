"""The status and advert fields of a node in PIPELINE mode or under `--mode auto` (agent/status.py calls these)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from coordinator_free.network_view import Mode
from coordinator_free.peer_health import PeerState
from coordinator_free.types import NodeId

from ..api.schema import QuorumMemberView, QuorumView

if TYPE_CHECKING:
    from ..node import Node

HEALTH_BY_PEER_STATE = {PeerState.ALIVE: "healthy", PeerState.DEGRADED: "degraded", PeerState.OFFLINE: "offline"}


def held_layers(node: Node) -> tuple[int, int] | None:
    """The half-open layer range this node advertises: its stage's, its claim (auto), or every layer (SOLO)."""
    if node.work is not None:
        return node.work.layers if node.work.runtime is not None else None
    if node.modes is not None:
        return node.modes.advertised_layers()
    return (0, node.arch.layer_count) if node.trainer is not None else None


def quorum_id_of(node: Node) -> str | None:
    return node.work.quorum.quorum_id if node.work is not None else None


def pipeline_status_fields(node: Node) -> dict[str, object]:
    """NodeStatus fields that differ from SOLO's while this node works as a quorum stage."""
    work = node.work
    assert work is not None
    layers = held_layers(node)
    layout = work.stage.layout
    return {
        "mode": work.mode.value,
        "mode_reason": work.quorum.reason,
        "layer_start": layers[0] if layers else None,
        "layer_stop": layers[1] if layers else None,
        "step": work.inner_steps,
        "inner_step": work.inner_steps,
        "quorum_id": layout.quorum_id if layout else None,
        "stage": layout.position if layout else None,
        "activity": "paused" if node.status.paused else ("training" if layout else "forming a quorum"),
    }


def auto_status_fields(node: Node) -> dict[str, object]:
    """NodeStatus fields of a node whose mode the rules pick (agent/modes.py), when it runs no quorum stage."""
    modes = node.modes
    assert modes is not None
    claim = modes.claim
    fields: dict[str, object] = {"mode": modes.mode.value, "mode_reason": modes.reason,
                                 "layer_claim_start": claim[0] if claim else None,
                                 "layer_claim_stop": claim[1] if claim else None}
    if modes.mode is Mode.ASYNC:
        report = modes.async_work.report
        fields |= {"async_accepted": report.accepted, "async_last_round": report.last_round,
                   "async_last_error": report.last_error, "layer_start": None, "layer_stop": None,
                   "activity": "paused" if node.status.paused else f"async: {report.phase}"}
    return fields


def quorum_view(node: Node) -> QuorumView | None:
    """StatusResponse.quorum: the members, their stages, tiers and health, and the session left."""
    work = node.work
    record = work.quorum.record if work is not None else None
    if work is None or record is None:
        return None
    lifecycle = work.quorum.lifecycle  # the founder's state machine; members see the record only
    table = node.peers.table if node.peers is not None else None
    members = []
    for index, member in enumerate(record.members):
        is_self = member.node_id == node.node_id
        info = table.get(NodeId(member.node_id)) if table is not None and not is_self else None
        health = "healthy" if is_self or info is None else HEALTH_BY_PEER_STATE.get(info.state, "offline")
        members.append(QuorumMemberView(node_id=member.node_id, stage=index, layer_start=member.layer_start,
                                        layer_stop=member.layer_stop, tier=member.tier, latency_ms=None,
                                        health=health, is_self=is_self))
    tiers = sorted({member.tier for member in record.members})
    session_end_s = record.created_at_s + record.session_s
    if lifecycle is not None and lifecycle.session_ends_s is not None:
        session_end_s = lifecycle.session_ends_s
    return QuorumView(quorum_id=record.quorum_id, state=lifecycle.phase.value if lifecycle else "active",
                      members=tuple(members), tier=tiers[-1] if tiers else None,
                      session_remaining_s=max(0.0, session_end_s - time.time()),
                      batches=lifecycle.batches_in_session if lifecycle else 0)
