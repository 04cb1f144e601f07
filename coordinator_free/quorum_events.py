"""Events that drive a quorum's lifecycle (quorum_lifecycle.py applies them).

Each carries the time it happened (`at_s`, the observer's clock); the rule
code never reads a clock. The agent makes them from peers' signed messages
and its own measurements; the simulator makes them from its event queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from .quorum_formation import QuorumMember
from .types import NodeId


@dataclass(frozen=True)
class ProposalAccepted:
    node_id: NodeId
    at_s: float


@dataclass(frozen=True)
class ProposalsAccepted:
    """A ProposalAccepted for each (node, time) in `answers`, in that order, as one state
    change: how a founder that collected a round of answers reports them."""

    answers: tuple[tuple[NodeId, float], ...]


@dataclass(frozen=True)
class ProposalRefused:
    node_id: NodeId
    at_s: float


@dataclass(frozen=True)
class Heartbeat:
    node_id: NodeId
    at_s: float


@dataclass(frozen=True)
class Heartbeats:
    """Every heartbeat heard from these members since the last report, the latest at `at_s`:
    the same as a Heartbeat from each, in one state change."""

    node_ids: tuple[NodeId, ...]
    at_s: float


@dataclass(frozen=True)
class CheckIn:
    """A quorum's periodic report as one state change: Heartbeats(node_ids, at_s), then
    BatchesCompleted(batches, at_s), then Tick(at_s) — the same state as the three in turn."""

    node_ids: tuple[NodeId, ...]  # members heard since the last report
    batches: int  # batches the pipeline finished since the last report
    at_s: float


@dataclass(frozen=True)
class LatencySample:
    """One measurement of a member's stage; the lifecycle compares it per layer (see there)."""

    node_id: NodeId
    at_s: float
    latency_ms: float  # this member's measured stage latency: all its stage's layers
    layers: int  # layers in its stage, so the rule can compare ms per layer
    tier_average_ms_per_layer: float  # its tier's average ms per layer, from the same observer


@dataclass(frozen=True)
class BatchesCompleted:
    count: int  # batches the pipeline finished since the last report
    at_s: float


@dataclass(frozen=True)
class MemberLeaving:
    node_id: NodeId
    at_s: float


@dataclass(frozen=True)
class MemberReplaced:
    leaving_node_id: NodeId
    replacement: QuorumMember  # takes the leaving member's stage
    at_s: float


@dataclass(frozen=True)
class ArchitectureUpgraded:
    at_s: float


@dataclass(frozen=True)
class AuditFailed:
    """A cross-quorum audit found one of this quorum's proofs fraudulent (§13): it is
    dissolved (and its members slashed by the ledger)."""

    at_s: float


@dataclass(frozen=True)
class Tick:
    at_s: float


QuorumEvent = (
    ProposalAccepted
    | ProposalsAccepted
    | ProposalRefused
    | Heartbeat
    | Heartbeats
    | CheckIn
    | LatencySample
    | BatchesCompleted
    | MemberLeaving
    | MemberReplaced
    | ArchitectureUpgraded
    | AuditFailed
    | Tick
)
