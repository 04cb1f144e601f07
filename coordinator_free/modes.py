"""Which contribution mode a node runs in (DESIGN.md §7).

Selection, in order: alone → SOLO; T5 → ASYNC (DATA if it holds genesis data
the network lacks); else PIPELINE when it can join a compatible quorum or
form one; else VERIFY if the network needs verifiers and the node has stake;
else DATA if the network needs data providers; else ASYNC.

Whether a quorum is available is an input (`quorum_available`): the caller
knows it from `quorum_formation` (the node is already in a quorum, a quorum
is looking for a replacement the node fits, or `form_quorum` succeeds). Mode
selection itself stays O(1) after the view's counts are built.

What DESIGN leaves open, decided here:

- "The network needs verifiers" when fewer nodes *other than this one* run
  VERIFY than ceil(spot-check probability × n). Why: every node's proofs are
  spot-checked with probability p, and recomputing a stage costs a verifier
  about what producing it cost its prover, so checking the whole network
  keeps about p·n verifiers busy. Below 20 nodes p = 0: no verifiers.
- "Has stake": at least one challenger's stake (`CHALLENGER_STAKE`), the
  least a verifier must put down to challenge anything.
- "Genesis data the network lacks": a shard served by fewer DATA-mode nodes
  *other than this one* than the §7 replica target (the same target as
  layer replicas). "The network needs data providers": some shard any node
  holds is lacking in that sense. Counting others only keeps a node that
  already fills the need from deciding it is no longer needed.
- A node with no room for a layer (max_layers = 0) cannot run ASYNC; with
  nothing else to do it is IDLE. INFERENCE is never chosen here: a quorum
  serves requests in PIPELINE mode, and a dedicated inference node is the
  operator's choice, not the protocol's.

Known weakness: nodes deciding at the same moment from the same view all see
the same need and may all switch to VERIFY or DATA; they find out on their
next re-selection, when each sees the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .constants import CHALLENGER_STAKE
from .errors import ProtocolError
from .network_view import Mode, NetworkView, NodeView
from .scale import spot_check_probability, target_replicas_per_layer
from .tiers import Tier
from .types import ShardId


@dataclass(frozen=True)
class ModeDecision:
    """The chosen mode and why, for the log and the dashboard."""

    mode: Mode
    reason: str


def verifiers_needed(network_size: int) -> int:
    """ceil(p · n) with p the §7 spot-check probability: 0 below 20 nodes."""
    # Rounded first, so a product landing a rounding error above an integer adds no verifier.
    return math.ceil(round(spot_check_probability(network_size) * network_size, 9))


def network_needs_verifiers(node: NodeView, view: NetworkView) -> bool:
    others = view.mode_counts[Mode.VERIFY] - (1 if node.mode is Mode.VERIFY else 0)
    return others < verifiers_needed(view.size)


def _served_by_others(node: NodeView, view: NetworkView, shard: ShardId) -> int:
    serving_self = node.mode is Mode.DATA and shard in node.shards
    return view.shard_server_counts.get(shard, 0) - (1 if serving_self else 0)


def lacking_shards_held(node: NodeView, view: NetworkView) -> frozenset[ShardId]:
    """Shards this node holds that too few other nodes serve."""
    target = target_replicas_per_layer(view.size)
    return frozenset(s for s in node.shards if _served_by_others(node, view, s) < target)


def network_needs_data_providers(node: NodeView, view: NetworkView) -> bool:
    target = target_replicas_per_layer(view.size)
    return any(_served_by_others(node, view, s) < target for s in view.shard_holder_counts)


def select_mode(node: NodeView, view: NetworkView, *, quorum_available: bool) -> ModeDecision:
    """The mode `node` should run in, given what it sees and whether a quorum is open to it."""
    listed = view.by_id.get(node.node_id)
    # Identity first: callers usually pass the very record the view holds, and
    # comparing two NodeViews field by field costs more than the decision.
    if listed is not node and listed != node:
        raise ProtocolError(
            f"node {node.node_id} must appear in its own view exactly as given; "
            "build the view with the node's current record included"
        )
    if view.size == 1:
        return ModeDecision(Mode.SOLO, "alone in the network: genesis training")
    if node.tier is Tier.T5:
        return _select_edge_mode(node, view)
    if quorum_available:
        return ModeDecision(Mode.PIPELINE, "a compatible quorum is open to this node")
    if node.stake >= CHALLENGER_STAKE and network_needs_verifiers(node, view):
        return ModeDecision(Mode.VERIFY, f"fewer than {verifiers_needed(view.size)} verifiers")
    if network_needs_data_providers(node, view):
        return ModeDecision(Mode.DATA, "some genesis shard is served by too few nodes")
    return _async_or_idle(node, "no quorum, no verifier or data need")


def _select_edge_mode(node: NodeView, view: NetworkView) -> ModeDecision:
    lacking = lacking_shards_held(node, view)
    if lacking:
        return ModeDecision(Mode.DATA, f"T5 holding {len(lacking)} shard(s) the network lacks")
    return _async_or_idle(node, "T5 trains asynchronously")


def _async_or_idle(node: NodeView, reason: str) -> ModeDecision:
    if node.max_layers >= 1:
        return ModeDecision(Mode.ASYNC, reason)
    return ModeDecision(Mode.IDLE, f"{reason}; no memory for a layer")
