"""The network as the rules see it, built from this node's peer table (signed records and heartbeats).

Peer records carry a tier, not the measured ms per layer, so a peer's speed
is its tier's representative figure (the geometric middle of the tier's
band): enough for stage balancing between tiers, blind within one. This
node's own entry uses its benchmark. Only peers heard alive recently and
running the same architecture count: a degraded peer is neither a candidate
nor part of n until it is heard again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from coordinator_free.constants import TIER_NAMES, TIER_UPPER_BOUNDS_MS
from coordinator_free.network_view import LayerRange, Mode, NetworkView, NodeView
from coordinator_free.peer_health import PeerState
from coordinator_free.types import NodeId, QuorumId

from ..model.arch import Architecture
from ..network.peer_table import PeerInfo

T5_REPRESENTATIVE_MS = 2 * TIER_UPPER_BOUNDS_MS[-1]


def representative_speed_ms(tier: str | None) -> float:
    """A speed inside `tier`'s band (T4 if unknown: the slowest that still pipelines)."""
    index = TIER_NAMES.index(tier) if tier in TIER_NAMES else len(TIER_NAMES) - 2
    if index == len(TIER_UPPER_BOUNDS_MS):
        return T5_REPRESENTATIVE_MS
    upper = TIER_UPPER_BOUNDS_MS[index]
    lower = TIER_UPPER_BOUNDS_MS[index - 1] if index else upper / 4
    return math.sqrt(lower * upper)


def peer_node_view(peer: PeerInfo) -> NodeView:
    held = None if peer.layer_start is None or peer.layer_stop is None else LayerRange(peer.layer_start, peer.layer_stop)
    return NodeView(
        node_id=NodeId(peer.node_id), speed_ms_per_layer=representative_speed_ms(peer.tier), layer_range=held,
        max_layers=len(held) if held else 0, memory_bytes=0,
        quorum_id=QuorumId(peer.quorum_id) if peer.quorum_id else None,
        mode=Mode.PIPELINE if peer.quorum_id else Mode.IDLE,
    )


def build_network_view(own: NodeView, peers: Iterable[PeerInfo], arch: Architecture) -> NetworkView:
    """`own` plus every alive peer of the same architecture, in node id order."""
    nodes = [own]
    for peer in peers:
        if peer.node_id == own.node_id or peer.state is not PeerState.ALIVE:
            continue
        if (peer.arch_name, peer.arch_version) != (arch.name, arch.arch_version):
            continue
        nodes.append(peer_node_view(peer))
    return NetworkView(nodes=tuple(sorted(nodes, key=lambda node: node.node_id)), layer_count=arch.layer_count)
